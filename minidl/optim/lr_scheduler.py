"""Learning-rate schedules that rewrite each param group's "lr" (PyTorch's values).

As in PyTorch, making a scheduler records each group's "initial_lr" and sets epoch 0;
call `step()` once per epoch after `optimizer.step()`. Values use the closed forms.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

from minidl.optim.optimizer import Optimizer


class LRScheduler:
    """Base: subclasses give `lr_at(base_lr, epoch)` and list their settings in `_settings`."""

    _settings: tuple[str, ...] = ()

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected an Optimizer, got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        elif any("initial_lr" not in g for g in optimizer.param_groups):
            raise KeyError(f"{type(self).__name__}: resuming at last_epoch={last_epoch} needs "
                           f"'initial_lr' in every param group")
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._last_lr: list[float] = []
        self.step()

    def lr_at(self, base_lr: float, epoch: int) -> float:
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and write the new learning rates into the optimizer."""
        self.last_epoch += 1
        self._last_lr = [self.lr_at(base, self.last_epoch) for base in self.base_lrs]
        for group, lr in zip(self.optimizer.param_groups, self._last_lr):
            group["lr"] = lr

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the last `step()`, one per param group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self._settings}
        out.update(last_epoch=self.last_epoch, base_lrs=list(self.base_lrs),
                   _last_lr=list(self._last_lr))
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what `state_dict()` gave (validated first; the optimizer's own lr comes
        back with the optimizer's state dict)."""
        name = f"{type(self).__name__}.load_state_dict"
        needed = {*self._settings, "last_epoch", "base_lrs", "_last_lr"}
        missing = sorted(needed - set(state_dict))
        if missing:
            raise ValueError(f"{name}: the state dict lacks {missing}")
        for key in ("base_lrs", "_last_lr"):
            if len(state_dict[key]) != len(self.optimizer.param_groups):
                raise ValueError(f"{name}: {key} has {len(state_dict[key])} entries but the optimizer "
                                 f"has {len(self.optimizer.param_groups)} param groups")
        for key in needed:
            value = state_dict[key]
            value = [_number(v) for v in value] if key in ("base_lrs", "_last_lr") else _number(value)
            setattr(self, key, value)


def _number(value: Any) -> Any:
    return value.item() if hasattr(value, "item") and getattr(value, "ndim", 1) == 0 else value


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (epoch // step_size)."""

    _settings = ("step_size", "gamma")

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        if isinstance(step_size, bool) or not isinstance(step_size, numbers.Integral) or step_size < 1:
            raise ValueError(f"StepLR: step_size must be an integer >= 1, got {step_size!r}")
        self.step_size = int(step_size)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2 (the cosine
    continues past T_max, as PyTorch's)."""

    _settings = ("T_max", "eta_min")

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        if isinstance(T_max, bool) or not isinstance(T_max, numbers.Integral) or T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be an integer >= 1, got {T_max!r}")
        self.T_max = int(T_max)
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2
