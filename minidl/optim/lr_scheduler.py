"""Learning-rate schedules that rewrite each param group's "lr" (PyTorch's values).

As in PyTorch, making a scheduler records each group's "initial_lr" and sets epoch 0;
call `step()` once per epoch (or per batch, for OneCycleLR) after `optimizer.step()`.
StepLR, CosineAnnealingLR, LambdaLR and OneCycleLR compute closed forms; ExponentialLR
and LinearLR are chainable as PyTorch's: each step multiplies the group's *current* lr,
so they compose with other changes to it (their closed forms serve SequentialLR).
"""
from __future__ import annotations

import math
import numbers
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from minidl.optim.optimizer import Optimizer


def _check_optimizer(owner: str, optimizer: Any) -> Optimizer:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{owner}: expected an Optimizer, got {type(optimizer).__name__}")
    return optimizer


def _real(owner: str, name: str, value: Any, low: float = 0.0, high: float = math.inf,
          low_open: bool = False) -> float:
    """A real number in [low, high] (or (low, high]); raises naming the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a number, got {value!r}")
    # finite: an infinite gamma or lr turns every later lr into inf or NaN
    ok = (value > low if low_open else value >= low) and value <= high and math.isfinite(value)
    if not ok:
        bracket = "(" if low_open else "["
        raise ValueError(f"{owner}: {name} must be in {bracket}{low}, {high}], got {value}")
    return float(value)


def _count(owner: str, name: str, value: Any, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{owner}: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


class LRScheduler:
    """Base: subclasses give `lr_at(base_lr, epoch)` (the closed form) or override
    `closed_form()`; chainable ones override `get_lr()`. `_settings` lists what
    `state_dict()` saves besides the epoch and the learning rates."""

    _settings: tuple[str, ...] = ()
    _is_initial = False

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        self.optimizer = _check_optimizer(type(self).__name__, optimizer)
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        elif any("initial_lr" not in g for g in optimizer.param_groups):
            raise KeyError(f"{type(self).__name__}: resuming at last_epoch={last_epoch} needs "
                           f"'initial_lr' in every param group")
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._last_lr: list[float] = []
        self._initial_step()

    def _initial_step(self) -> None:
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def lr_at(self, base_lr: float, epoch: int) -> float:
        raise NotImplementedError(f"{type(self).__name__} has no lr_at()")

    def closed_form(self) -> list[float]:
        """Each group's lr at `last_epoch`, from the base learning rates alone."""
        return [self.lr_at(base, self.last_epoch) for base in self.base_lrs]

    def get_lr(self) -> list[float]:
        """Each group's lr for the epoch `step()` has just entered (the closed form unless
        the schedule is chainable)."""
        return self.closed_form()

    def step(self) -> None:
        """Advance one epoch and write the new learning rates into the optimizer."""
        self.last_epoch += 1
        self._set(self.get_lr())

    def _jump(self, epoch: int) -> None:
        """Go to `epoch` by the closed form (PyTorch's `step(epoch)`, used by SequentialLR)."""
        self.last_epoch = epoch
        self._set(self.closed_form())

    def _set(self, lrs: list[float]) -> None:
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def _current(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the last `step()`, one per param group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self._settings}
        out.update(last_epoch=self.last_epoch, base_lrs=list(self.base_lrs),
                   _last_lr=list(self._last_lr))
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what `state_dict()` gave (everything validated first; the optimizer's
        own lr comes back with the optimizer's state dict)."""
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise ValueError(f"{name}: expected a dict, got {type(state_dict).__name__}")
        needed = {*self._settings, "last_epoch", "base_lrs", "_last_lr"}
        missing = sorted(needed - set(state_dict))
        if missing:
            raise ValueError(f"{name}: the state dict lacks {missing}")
        staged = {}
        for key in ("base_lrs", "_last_lr"):
            values = state_dict[key]
            if not isinstance(values, (list, tuple)) or len(values) != len(self.optimizer.param_groups):
                raise ValueError(f"{name}: {key} must hold one number per param group "
                                 f"({len(self.optimizer.param_groups)}), got {values!r}")
            staged[key] = [_real(name, key, _number(v)) for v in values]
        epoch = _number(state_dict["last_epoch"])
        staged["last_epoch"] = _count(name, "last_epoch", epoch, low=-1)
        for key in self._settings:
            staged[key] = _number(state_dict[key])
        self._check_settings(name, staged)
        for key, value in staged.items():
            setattr(self, key, value)

    def _check_settings(self, owner: str, staged: dict[str, Any]) -> None:
        """Raise unless the settings in `staged` are valid (subclasses check theirs)."""


def _number(value: Any) -> Any:
    return value.item() if hasattr(value, "item") and getattr(value, "ndim", 1) == 0 else value


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (epoch // step_size)."""

    _settings = ("step_size", "gamma")

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self._check_settings("StepLR", {"step_size": step_size, "gamma": gamma})
        self.step_size = int(step_size)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _check_settings(self, owner: str, staged: dict[str, Any]) -> None:
        staged["step_size"] = _count(owner, "step_size", staged["step_size"])
        _real(owner, "gamma", staged["gamma"])

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2 (the cosine
    continues past T_max, as PyTorch's)."""

    _settings = ("T_max", "eta_min")

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        self._check_settings("CosineAnnealingLR", {"T_max": T_max, "eta_min": eta_min})
        self.T_max = int(T_max)
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def _check_settings(self, owner: str, staged: dict[str, Any]) -> None:
        staged["T_max"] = _count(owner, "T_max", staged["T_max"])
        _real(owner, "eta_min", staged["eta_min"])

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(epoch); `lr_lambda` is one function or a list of them, one
    per param group. The functions are not part of `state_dict()`."""

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
                 last_epoch: int = -1) -> None:
        n = len(_check_optimizer("LambdaLR", optimizer).param_groups)
        lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
        if len(lambdas) != n:
            raise ValueError(f"LambdaLR: expected {n} lr_lambdas (one per param group), got {len(lambdas)}")
        for i, fn in enumerate(lambdas):
            if not callable(fn):
                raise TypeError(f"LambdaLR: lr_lambda {i} must be callable, got {type(fn).__name__}")
        self.lr_lambdas = lambdas
        super().__init__(optimizer, last_epoch)

    def closed_form(self) -> list[float]:
        return [base * fn(self.last_epoch) for fn, base in zip(self.lr_lambdas, self.base_lrs)]


class ExponentialLR(LRScheduler):
    """lr *= gamma every epoch (closed form base_lr * gamma ** epoch); chainable."""

    _settings = ("gamma",)

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self._check_settings("ExponentialLR", {"gamma": gamma})
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _check_settings(self, owner: str, staged: dict[str, Any]) -> None:
        _real(owner, "gamma", staged["gamma"])

    def get_lr(self) -> list[float]:
        if self._is_initial:  # resuming must not step ahead of itself
            return self._current()
        return [lr * self.gamma for lr in self._current()]

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** epoch


class LinearLR(LRScheduler):
    """The lr factor moves linearly from start_factor (epoch 0) to end_factor (epoch
    total_iters) and stays there; chainable (each step rescales the current lr)."""

    _settings = ("start_factor", "end_factor", "total_iters")

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1) -> None:
        staged = {"start_factor": start_factor, "end_factor": end_factor, "total_iters": total_iters}
        self._check_settings("LinearLR", staged)
        self.start_factor, self.end_factor = start_factor, end_factor
        self.total_iters = staged["total_iters"]
        super().__init__(optimizer, last_epoch)

    def _check_settings(self, owner: str, staged: dict[str, Any]) -> None:
        _real(owner, "start_factor", staged["start_factor"], 0.0, 1.0, low_open=True)
        _real(owner, "end_factor", staged["end_factor"], 0.0, 1.0)
        staged["total_iters"] = _count(owner, "total_iters", staged["total_iters"])

    def get_lr(self) -> list[float]:
        sf, ef, n, t = self.start_factor, self.end_factor, self.total_iters, self.last_epoch
        if t == 0:
            return [lr * sf for lr in self._current()]
        if self._is_initial or t > n:
            return self._current()
        return [lr * (1.0 + (ef - sf) / (n * sf + (t - 1) * (ef - sf))) for lr in self._current()]

    def lr_at(self, base_lr: float, epoch: int) -> float:
        sf, ef = self.start_factor, self.end_factor
        return base_lr * (sf + (ef - sf) * min(self.total_iters, epoch) / self.total_iters)


class OneCycleLR(LRScheduler):
    """PyTorch's 1cycle learning rates, stepped once per batch for `total_steps` steps:
    from max_lr/div_factor up to max_lr over the first pct_start of the steps, then down
    to max_lr/(div_factor*final_div_factor), by cosine or linear annealing. With
    `three_phase`, the second phase comes back to the initial lr and the third anneals
    to the minimum. `max_lr` is a number or one per param group; each group keeps
    "initial_lr", "max_lr" and "min_lr". Momentum is not cycled. Stepping past
    total_steps raises ValueError, as PyTorch's.
    """

    _settings = ("total_steps", "pct_start", "anneal_strategy", "three_phase")

    def __init__(self, optimizer: Optimizer, max_lr: float | Sequence[float], total_steps: int,
                 pct_start: float = 0.3, anneal_strategy: str = "cos", div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False, last_epoch: int = -1) -> None:
        groups = _check_optimizer("OneCycleLR", optimizer).param_groups
        staged = {"total_steps": total_steps, "pct_start": pct_start, "anneal_strategy": anneal_strategy,
                  "three_phase": three_phase}
        self._check_settings("OneCycleLR", staged)
        self.__dict__.update(staged)
        max_lrs = list(max_lr) if isinstance(max_lr, (list, tuple)) else [max_lr] * len(groups)
        if len(max_lrs) != len(groups):
            raise ValueError(f"OneCycleLR: expected {len(groups)} values for max_lr (one per param "
                             f"group), got {len(max_lrs)}")
        max_lrs = [_real("OneCycleLR", "max_lr", v) for v in max_lrs]
        div = _real("OneCycleLR", "div_factor", div_factor, low_open=True)
        final_div = _real("OneCycleLR", "final_div_factor", final_div_factor, low_open=True)
        if last_epoch == -1:
            for group, top in zip(groups, max_lrs):
                group["initial_lr"] = top / div
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div
        super().__init__(optimizer, last_epoch)

    def _check_settings(self, owner: str, staged: dict[str, Any]) -> None:
        staged["total_steps"] = _count(owner, "total_steps", staged["total_steps"])
        _real(owner, "pct_start", staged["pct_start"], 0.0, 1.0)
        if staged["anneal_strategy"] not in ("cos", "linear"):
            raise ValueError(f"{owner}: anneal_strategy must be 'cos' or 'linear', got "
                             f"{staged['anneal_strategy']!r}")
        if not isinstance(staged["three_phase"], bool):
            raise TypeError(f"{owner}: three_phase must be True or False, got {staged['three_phase']!r}")

    def _phases(self) -> list[tuple[float, str, str]]:
        """(end step, start key, end key) of each phase, PyTorch's boundaries."""
        n, pct = self.total_steps, self.pct_start
        if self.three_phase:
            return [(float(pct * n) - 1, "initial_lr", "max_lr"),
                    (float(2 * pct * n) - 2, "max_lr", "initial_lr"),
                    (n - 1, "initial_lr", "min_lr")]
        return [(float(pct * n) - 1, "initial_lr", "max_lr"), (n - 1, "max_lr", "min_lr")]

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def closed_form(self) -> list[float]:
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {step} times; the specified number of "
                             f"total steps is {self.total_steps}")
        phases = self._phases()
        lrs = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, (end_step, start_key, end_key) in enumerate(phases):
                if step <= end_step or i == len(phases) - 1:
                    pct = (step - start_step) / (end_step - start_step)
                    lrs.append(self._anneal(group[start_key], group[end_key], pct))
                    break
                start_step = end_step
        return lrs


class SequentialLR(LRScheduler):
    """Runs `schedulers` one after another: scheduler i takes over at epoch milestones[i-1],
    starting from its own epoch 0 (PyTorch's SequentialLR; all on this optimizer)."""

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler], milestones: Sequence[int],
                 last_epoch: int = -1) -> None:
        self.optimizer = _check_optimizer("SequentialLR", optimizer)
        schedulers = list(schedulers)
        if not schedulers:
            raise ValueError("SequentialLR: expected at least one scheduler, got none")
        for i, s in enumerate(schedulers):
            if isinstance(s, ReduceLROnPlateau) or not isinstance(s, LRScheduler):
                raise TypeError(f"SequentialLR: scheduler {i} must be an epoch schedule (not "
                                f"ReduceLROnPlateau), got {type(s).__name__}")
            if s.optimizer is not optimizer:
                raise ValueError(f"SequentialLR: scheduler {i} ({type(s).__name__}) belongs to "
                                 f"another optimizer")
        milestones = [_count("SequentialLR", "a milestone", m, low=0) for m in milestones]
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: expected {len(schedulers) - 1} milestones for "
                             f"{len(schedulers)} schedulers, got {len(milestones)}")
        if milestones != sorted(milestones):
            raise ValueError(f"SequentialLR: milestones must be increasing, got {milestones}")
        self._schedulers, self._milestones = schedulers, milestones
        self.last_epoch = last_epoch + 1
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        for group in optimizer.param_groups:  # undo what the schedulers' own first steps did
            group["lr"] = group["initial_lr"]
        for s in schedulers:
            s.last_epoch -= 1
        first = schedulers[bisect_right(milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def step(self) -> None:
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler._jump(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        return {"last_epoch": self.last_epoch, "_milestones": list(self._milestones),
                "base_lrs": list(self.base_lrs), "_last_lr": list(self._last_lr),
                "_schedulers": [s.state_dict() for s in self._schedulers]}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        name = "SequentialLR.load_state_dict"
        if not isinstance(state_dict, Mapping) or not {"last_epoch", "_schedulers"} <= set(state_dict):
            raise ValueError(f"{name}: expected a dict with 'last_epoch' and '_schedulers'")
        subs = list(state_dict["_schedulers"])
        if len(subs) != len(self._schedulers):
            raise ValueError(f"{name}: the state dict has {len(subs)} schedulers, this SequentialLR "
                             f"has {len(self._schedulers)}")
        epoch = _count(name, "last_epoch", _number(state_dict["last_epoch"]), low=0)
        last = [_real(name, "_last_lr", _number(v)) for v in state_dict.get("_last_lr", self._last_lr)]
        base = [_real(name, "base_lrs", _number(v)) for v in state_dict.get("base_lrs", self.base_lrs)]
        # each scheduler validates before it changes; keep the old states to undo a failure
        before = [s.state_dict() for s in self._schedulers]
        try:
            for s, sub in zip(self._schedulers, subs):
                s.load_state_dict(sub)
        except Exception:
            for s, old in zip(self._schedulers, before):
                s.load_state_dict(old)
            raise
        self.last_epoch, self._last_lr, self.base_lrs = epoch, last, base


class ReduceLROnPlateau(LRScheduler):
    """Multiply each group's lr by `factor` (not below min_lr) when `step(metric)` has seen
    no improvement for more than `patience` epochs, then wait `cooldown` epochs; as
    PyTorch's. "Improvement" is relative (threshold_mode "rel": below best*(1-threshold)
    in "min" mode, above best*(1+threshold) in "max") or absolute ("abs"). Changes
    smaller than `eps` are ignored.
    """

    _settings = ("mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lrs",
                 "eps", "best", "num_bad_epochs", "cooldown_counter")

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float | Sequence[float] = 0.0, eps: float = 1e-8) -> None:
        self.optimizer = _check_optimizer("ReduceLROnPlateau", optimizer)
        n = len(optimizer.param_groups)
        min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * n
        if len(min_lrs) != n:
            raise ValueError(f"ReduceLROnPlateau: expected {n} min_lrs (one per param group), got {len(min_lrs)}")
        staged = {"mode": mode, "factor": factor, "patience": patience, "threshold": threshold,
                  "threshold_mode": threshold_mode, "cooldown": cooldown, "min_lrs": min_lrs, "eps": eps,
                  "best": math.inf if mode == "min" else -math.inf, "num_bad_epochs": 0, "cooldown_counter": 0}
        self._check_settings("ReduceLROnPlateau", staged)
        self.__dict__.update(staged)
        self.last_epoch = 0
        self.base_lrs = self._current()
        self._last_lr = self._current()

    def _check_settings(self, owner: str, staged: dict[str, Any]) -> None:
        if staged["mode"] not in ("min", "max"):
            raise ValueError(f"{owner}: mode must be 'min' or 'max', got {staged['mode']!r}")
        if staged["threshold_mode"] not in ("rel", "abs"):
            raise ValueError(f"{owner}: threshold_mode must be 'rel' or 'abs', got {staged['threshold_mode']!r}")
        _real(owner, "factor", staged["factor"])
        if not staged["factor"] < 1.0:
            raise ValueError(f"{owner}: factor must be < 1.0, got {staged['factor']}")
        for key in ("patience", "cooldown", "num_bad_epochs", "cooldown_counter"):
            staged[key] = _count(owner, key, _number(staged[key]), low=0)
        _real(owner, "threshold", staged["threshold"])
        _real(owner, "eps", staged["eps"])
        if not isinstance(staged["min_lrs"], (list, tuple)) or len(staged["min_lrs"]) != len(self.optimizer.param_groups):
            raise ValueError(f"{owner}: min_lrs must hold one number per param group, got {staged['min_lrs']!r}")
        staged["min_lrs"] = [_real(owner, "min_lr", _number(v)) for v in staged["min_lrs"]]
        best = _number(staged["best"])
        if isinstance(best, bool) or not isinstance(best, numbers.Real):
            raise TypeError(f"{owner}: best must be a number, got {best!r}")
        if math.isnan(best):  # nothing would ever improve on it: lr cut at every patience
            raise ValueError(f"{owner}: best must be a number or +-inf, got nan")
        staged["best"] = float(best)

    def _is_better(self, value: float) -> bool:
        rel = self.threshold_mode == "rel"
        if self.mode == "min":
            return value < (self.best * (1.0 - self.threshold) if rel else self.best - self.threshold)
        return value > (self.best * (1.0 + self.threshold) if rel else self.best + self.threshold)

    def step(self, metrics: Any) -> None:  # type: ignore[override]
        """Record this epoch's metric (a number or a one-element tensor) and reduce the
        learning rates if it has stopped improving."""
        current = float(metrics.item() if hasattr(metrics, "item") else metrics)
        self.last_epoch += 1
        if self._is_better(current):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            for group, floor in zip(self.optimizer.param_groups, self.min_lrs):
                old = float(group["lr"])
                new = max(old * self.factor, floor)
                if old - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = self._current()

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0
