"""Adagrad, as PyTorch's (plain array code: NumPy and CuPy alike)."""
from __future__ import annotations

from typing import Any

from minidl.autograd.tensor import Tensor
from minidl.backend import array_module
from minidl.optim.optimizer import Optimizer, ParamsLike, check_nonneg


class Adagrad(Optimizer):
    """PyTorch's Adagrad: g = grad + weight_decay*p; clr = lr / (1 + (t-1)*lr_decay);
    s += g^2 (s starts at initial_accumulator_value); p -= clr * g / (sqrt(s) + eps).

    State per parameter: "step" (int) and "sum" (the parameter's shape).
    """

    _state_keys = ("step", "sum")
    _nonnegative_state = ("sum",)

    def __init__(self, params: ParamsLike, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10) -> None:
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay,
                                  "initial_accumulator_value": initial_accumulator_value, "eps": eps})

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        for key in ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            check_nonneg("Adagrad", key, group[key])

    def _update(self, p: Tensor, grad: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        xp = array_module(p.data)
        if not state:
            state.update(step=0, sum=xp.full_like(p.data, group["initial_accumulator_value"]))
        state["step"] += 1
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * p.data  # a new array: grads may be shared
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        total = state["sum"]
        total += grad * grad
        std = xp.sqrt(total)
        std += group["eps"]
        p.data -= clr * (grad / std)
