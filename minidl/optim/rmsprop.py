"""RMSprop, as PyTorch's (plain array code: NumPy and CuPy alike)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from minidl.autograd.tensor import Tensor
from minidl.backend import array_module
from minidl.optim.optimizer import Optimizer, ParamsLike, check_nonneg


class RMSprop(Optimizer):
    """PyTorch's RMSprop: g = grad + weight_decay*p; v = alpha*v + (1-alpha)*g^2;
    with `centered`, m = alpha*m + (1-alpha)*g and avg = sqrt(v - m^2) + eps, else
    avg = sqrt(v) + eps; then with momentum b = momentum*b + g/avg and p -= lr*b,
    else p -= lr * g/avg.

    State per parameter: "step" (int), "square_avg"; "momentum_buffer" when momentum
    > 0 and "grad_avg" when centered (each the parameter's shape).
    """

    _state_keys = ("step", "square_avg")
    _nonnegative_state = ("square_avg",)
    _optional_keys = ("momentum_buffer", "grad_avg")

    def __init__(self, params: ParamsLike, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False) -> None:
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay,
                                  "momentum": momentum, "centered": centered})

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        for key in ("alpha", "eps", "weight_decay", "momentum"):
            check_nonneg("RMSprop", key, group[key])
        if not isinstance(group["centered"], bool):
            raise TypeError(f"RMSprop: centered must be True or False, got {group['centered']!r}")

    def _update(self, p: Tensor, grad: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        xp = array_module(p.data)
        if not state:
            state.update(step=0, square_avg=xp.zeros_like(p.data))
        state["step"] += 1
        alpha, lr = group["alpha"], group["lr"]
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * p.data  # a new array: grads may be shared
        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1 - alpha) * grad * grad
        if group["centered"]:
            grad_avg = _buffer(state, "grad_avg", p.data)
            grad_avg += (1 - alpha) * (grad - grad_avg)
            avg = xp.sqrt(square_avg - grad_avg * grad_avg)
        else:
            avg = xp.sqrt(square_avg)
        avg += group["eps"]
        if group["momentum"] > 0:
            buf = _buffer(state, "momentum_buffer", p.data)
            buf *= group["momentum"]
            buf += grad / avg
            p.data -= lr * buf
        else:
            p.data -= lr * (grad / avg)

    def _staged_state(self, name: str, key: Any, p: Tensor, entry: Any) -> dict[str, Any]:
        # which buffers a parameter has depends on its group's momentum and centered
        optional = tuple(k for k in self._optional_keys if isinstance(entry, Mapping) and k in entry)
        self._state_keys = RMSprop._state_keys + optional
        try:
            staged = super()._staged_state(name, key, p, entry)
        finally:
            del self._state_keys
        return staged


def _buffer(state: dict[str, Any], key: str, like: Any) -> Any:
    """state[key], made as zeros the first time it is needed (PyTorch's initial value)."""
    if key not in state:
        state[key] = array_module(like).zeros_like(like)
    return state[key]
