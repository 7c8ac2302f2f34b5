"""Adam (L2 weight decay added to the gradient) and AdamW (decoupled weight decay)."""
from __future__ import annotations

from typing import Any

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

    def _step(self) -> None:
        """Every parameter with a gradient (all checked first), each group's updated in one
        call per step count."""
        for group, live in zip(self.param_groups, self._checked_grads()):
            by_step: dict[int, list[tuple[Any, ...]]] = {}
            for p, grad in live:
                state = self._state_for(p)
                if not state:
                    xp = array_module(p.data)
                    state.update(step=0, exp_avg=xp.zeros_like(p.data),
                                 exp_avg_sq=xp.zeros_like(p.data))
                state["step"] += 1
                by_step.setdefault(state["step"], []).append(
                    (p.data, grad, state["exp_avg"], state["exp_avg_sq"]))
            beta1, beta2 = group["betas"]
            for step, items in by_step.items():
                kernels.adam_update_many(*map(list, zip(*items)), step, group["lr"], beta1, beta2,
                                         self._eps(group, step), group["weight_decay"],
                                         self._decoupled)

    def _eps(self, group: dict[str, Any], step: int) -> float:
        """The eps added to sqrt(v) / sqrt(1 - b2^step) at this step."""
        return group["eps"]


class AdamW(Adam):
    """PyTorch's AdamW: Adam whose weight decay is decoupled from the gradient:
    p *= 1 - lr*weight_decay before the Adam step (default weight_decay 0.01)."""

    _decoupled = True

    def __init__(self, params: ParamsLike, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.01) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
