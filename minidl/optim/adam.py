"""Adam (L2 weight decay added to the gradient) and AdamW (decoupled weight decay)."""
from __future__ import annotations

from typing import Any

from minidl.autograd.tensor import Tensor
from minidl.backend import array_module
from minidl.kernels import optim as kernels
from minidl.optim.optimizer import Optimizer, ParamsLike, check_nonneg


class Adam(Optimizer):
    """PyTorch's Adam: g = grad + weight_decay*p; m = b1*m + (1-b1)*g;
    v = b2*v + (1-b2)*g^2; p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
    State per parameter: "step" (int), "exp_avg" and "exp_avg_sq" (param's shape).
    """

    _state_keys = ("step", "exp_avg", "exp_avg_sq")
    _nonnegative_state = ("exp_avg_sq",)
    _decoupled = False

    def __init__(self, params: ParamsLike, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        name = self._name()
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        for i, beta in enumerate(betas):
            check_nonneg(name, f"betas[{i}]", beta)
            if not beta < 1:
                raise ValueError(f"{name}: betas[{i}] must be in [0, 1), got {beta}")
        group["betas"] = tuple(betas)
        check_nonneg(name, "eps", group["eps"])
        check_nonneg(name, "weight_decay", group["weight_decay"])

    def _update(self, p: Tensor, grad: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        if not state:
            xp = array_module(p.data)
            state.update(step=0, exp_avg=xp.zeros_like(p.data), exp_avg_sq=xp.zeros_like(p.data))
        state["step"] += 1
        beta1, beta2 = group["betas"]
        kernels.adam_update(p.data, grad, state["exp_avg"], state["exp_avg_sq"], state["step"],
                            group["lr"], beta1, beta2, group["eps"], group["weight_decay"],
                            self._decoupled)


class AdamW(Adam):
    """PyTorch's AdamW: Adam whose weight decay is decoupled from the gradient:
    p *= 1 - lr*weight_decay before the Adam step (default weight_decay 0.01)."""

    _decoupled = True

    def __init__(self, params: ParamsLike, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.01) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
