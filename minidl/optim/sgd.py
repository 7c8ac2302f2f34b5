"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay."""
from __future__ import annotations

from typing import Any

import numpy as np

from minidl.autograd.tensor import Tensor
from minidl.backend import array_module
from minidl.kernels import optim as kernels
from minidl.optim.optimizer import Optimizer, ParamsLike, check_nonneg


class SGD(Optimizer):
    """PyTorch's SGD with dampening 0: g = grad + weight_decay*p;
    buf = momentum*buf + g (buf = g on the first step); p -= lr*(g + momentum*buf if
    nesterov else buf). State per parameter: "momentum_buffer" (only when momentum > 0).
    """

    _state_keys = ("momentum_buffer",)

    def __init__(self, params: ParamsLike, lr: float, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "nesterov": nesterov,
                                      "weight_decay": weight_decay})

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        check_nonneg("SGD", "momentum", group["momentum"])
        check_nonneg("SGD", "weight_decay", group["weight_decay"])
        if not isinstance(group["nesterov"], (bool, np.bool_)):
            raise TypeError(f"SGD: nesterov must be True or False, got {group['nesterov']!r}")
        if group["nesterov"] and group["momentum"] <= 0:
            raise ValueError(f"SGD: nesterov momentum requires momentum > 0, got momentum="
                             f"{group['momentum']}")

    def _update(self, p: Tensor, grad: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        momentum = group["momentum"]
        buf = None
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:  # a zero buffer with dampening 0 makes buf = g, PyTorch's first step
                buf = state["momentum_buffer"] = array_module(p.data).zeros_like(p.data)
        kernels.sgd_update(p.data, grad, buf, group["lr"], momentum, 0.0, bool(group["nesterov"]),
                           group["weight_decay"])
