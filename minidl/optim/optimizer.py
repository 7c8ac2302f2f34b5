"""Optimizer: parameter groups, per-parameter state, step/zero_grad, step hooks, state dicts."""
from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from minidl import backend as B
from minidl.autograd.grad_mode import enable_grad, no_grad
from minidl.autograd.tensor import Tensor

ParamsLike = Iterable[Tensor] | Iterable[dict[str, Any]] | Tensor
StepHook = Callable[["Optimizer"], None]

_hook_ids = itertools.count()


class RemovableHandle:
    """What `register_step_pre_hook` / `register_step_post_hook` return: `.remove()` unregisters
    the hook (again is a no-op); also a context manager that removes it on exit, as PyTorch's."""

    def __init__(self, hooks: dict[int, StepHook]) -> None:
        self._hooks = hooks
        self.id = next(_hook_ids)

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


class Optimizer:
    """Base class: holds `param_groups` (dicts with "params", "lr", ...) and `state`.

    Subclasses set `_state_keys` (the names in each parameter's state), implement
    `_check_group(group)` (raise ValueError on a bad hyperparameter) and
    `_update(p, grad, group, state)` (one in-place update of `p.data` on raw arrays), or
    `_step()` for an update that needs every parameter at once. They never define `step`:
    the base `step` runs the closure and the step hooks around `_step`, so no subclass can
    skip the hooks (a subclass that defines `step` is refused when the class is created).
    """

    _state_keys: tuple[str, ...] = ()
    # state arrays of squares (running averages or sums of g*g): a negative entry would make
    # the next update NaN, so a loaded state with one is refused
    _nonnegative_state: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            raise TypeError(f"{cls.__name__} defines step(); a minidl optimizer implements "
                            f"_update(p, grad, group, state) (or _step()) instead, so that "
                            f"Optimizer.step runs the closure and the step hooks around it")

    def __init__(self, params: ParamsLike, defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        self._step_pre_hooks: dict[int, StepHook] = {}
        self._step_post_hooks: dict[int, StepHook] = {}
        groups = [params] if isinstance(params, Tensor) else list(params)
        if not groups:
            raise ValueError(f"{self._name()}: got an empty parameter list")
        if not isinstance(groups[0], Mapping):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def _name(self) -> str:
        return type(self).__name__

    # ---- groups ---------------------------------------------------------------------
    def add_param_group(self, group: Mapping[str, Any]) -> None:
        """Add a dict with "params" (and optional per-group hyperparameters)."""
        if not isinstance(group, Mapping) or "params" not in group:
            raise TypeError(f"{self._name()}: a parameter group must be a dict with a 'params' "
                            f"entry, got {type(group).__name__}")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        if not params:
            raise ValueError(f"{self._name()}: a parameter group has no parameters")
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{self._name()}: parameters must be Tensors, item {i} is a "
                                f"{type(p).__name__}")
            if p.dtype.kind not in "fc":
                raise TypeError(f"{self._name()}: can only optimise floating tensors, item {i} has "
                                f"dtype {p.dtype}")
            if id(p) in taken:
                raise ValueError(f"{self._name()}: a parameter appears in more than one group "
                                 f"(item {i}, shape {p.shape})")
            taken.add(id(p))
        full = {**self.defaults, **{k: v for k, v in group.items() if k != "params"}}
        self._check_group(full)
        full["params"] = params
        self.param_groups.append(full)

    def _check_group(self, group: dict[str, Any]) -> None:
        check_nonneg(self._name(), "lr", group["lr"])

    # ---- stepping -------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every gradient (or, with set_to_none=False, replace it by zeros)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None or set_to_none:
                    p.grad = None
                else:  # a fresh array: grads may be shared, so never zero one in place
                    p.grad = Tensor(B.array_module(p.data).zeros_like(p.grad.data))

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns closure() when given.

        Order: closure() (with gradients enabled), the pre-hooks, the update, the post-hooks.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for hook in list(self._step_pre_hooks.values()):
            hook(self)
        with no_grad():
            self._step()
        for hook in list(self._step_post_hooks.values()):
            hook(self)
        return loss

    def _step(self) -> None:
        """One update of every parameter that has a gradient (gradients are off here)."""
        for group, live in zip(self.param_groups, self._checked_grads()):
            for p, grad in live:
                self._update(p, grad, group, self._state_for(p))

    def _checked_grads(self) -> list[list[tuple[Tensor, Any]]]:
        """Each group's (parameter, gradient array) pairs, for the parameters that have a
        gradient; every gradient is checked here, before any parameter moves, so a bad one
        changes nothing."""
        return [[(p, self._checked_grad(p)) for p in group["params"] if p.grad is not None]
                for group in self.param_groups]

    def register_step_pre_hook(self, hook: StepHook) -> RemovableHandle:
        """Call `hook(optimizer)` at every `step()`, after the closure (if any) and before the
        update: the gradients it sees, or replaces, are the ones the update uses.

        Unlike PyTorch's `hook(optimizer, args, kwargs)`, minidl's hook takes the optimizer
        alone (API.md) and its return value is ignored; and it runs after the closure, where
        PyTorch runs it before, so that a closure's fresh gradients are what it sees (the
        gradient averaging of `distributed.DistributedDataParallel` relies on that). Hooks run
        in registration order; `.remove()` on the returned handle unregisters this one.
        """
        return self._register(self._step_pre_hooks, hook, "register_step_pre_hook")

    def register_step_post_hook(self, hook: StepHook) -> RemovableHandle:
        """Call `hook(optimizer)` after every `step()`'s update (PyTorch's step post-hook,
        taking the optimizer alone; its return value is ignored). `.remove()` on the returned
        handle unregisters it."""
        return self._register(self._step_post_hooks, hook, "register_step_post_hook")

    def _register(self, hooks: dict[int, StepHook], hook: StepHook, what: str) -> RemovableHandle:
        if not callable(hook):
            raise TypeError(f"{self._name()}.{what}: expected a callable hook(optimizer), got "
                            f"{type(hook).__name__}")
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        return handle

    def _update(self, p: Tensor, grad: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        raise NotImplementedError(f"{self._name()} has no _update()")

    def _checked_grad(self, p: Tensor) -> Any:
        grad = p.grad.data if isinstance(p.grad, Tensor) else p.grad
        # arrays of one type share a device: the device is asked only when the types differ
        # (this runs for every parameter at every step)
        if type(grad) is not type(p.data) and B.device_of(grad) != p.device:
            raise B.DeviceMismatchError(f"{self._name()}.step: a gradient is on {B.device_of(grad)} "
                                        f"but its parameter is on {p.device}")
        if tuple(grad.shape) != p.data.shape:
            raise ValueError(f"{self._name()}.step: a gradient has shape {tuple(grad.shape)} but its "
                             f"parameter has shape {tuple(p.shape)}")
        return grad

    def _state_for(self, p: Tensor) -> dict[str, Any]:
        """p's state, with its arrays following p if the model moved or changed dtype."""
        state = self.state.setdefault(p, {})
        data = p.data
        for key, value in state.items():
            if type(value) is type(data) and value.dtype == data.dtype or type(value) is int:
                continue  # the common cases (an array as p's, a step count), at every step
            if B.is_array(value) and value.ndim and (B.device_of(value) != p.device
                                                     or value.dtype != p.dtype):
                state[key] = _as_param_array(value, p)
        return state

    # ---- state dicts ----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """{"state": {index: {name: NumPy array or number}}, "param_groups": [...]}, as PyTorch:
        parameters are numbered across groups in order; arrays are copies."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {}
        for p, s in self.state.items():
            if id(p) in index and s:
                state[index[id(p)]] = {k: (B.to_numpy(v).copy() if B.is_array(v) else v)
                                       for k, v in s.items()}
        return {"state": dict(sorted(state.items())), "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore hyperparameters and state saved by `state_dict()` (possibly through
        md.save/md.load). Everything is validated before anything changes; state arrays
        are copied to each parameter's device and dtype."""
        name = f"{self._name()}.load_state_dict"
        if not isinstance(state_dict, Mapping) or set(state_dict) != {"state", "param_groups"}:
            keys = sorted(map(str, state_dict)) if isinstance(state_dict, Mapping) else None
            raise ValueError(f"{name}: expected a dict with keys 'param_groups' and 'state', got "
                             f"{keys if keys is not None else type(state_dict).__name__}")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}: the state dict has {len(saved_groups)} parameter groups, "
                             f"this optimizer has {len(self.param_groups)}")
        params_by_index: dict[int, Tensor] = {}
        new_groups = []
        for gi, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            new_groups.append(self._staged_group(name, gi, group, saved, params_by_index))
        new_state = {}
        for key, entry in dict(state_dict["state"]).items():
            p = params_by_index.get(_as_index(key))
            if p is None:
                raise ValueError(f"{name}: state for parameter {key!r}, which no group lists")
            new_state[p] = self._staged_state(name, key, p, entry)
        for group, new in zip(self.param_groups, new_groups):  # all checks passed
            group.update(new)
        self.state = new_state

    def _staged_group(self, name: str, gi: int, group: dict[str, Any], saved: Any,
                      params_by_index: dict[int, Tensor]) -> dict[str, Any]:
        if not isinstance(saved, Mapping) or "params" not in saved:
            raise ValueError(f"{name}: parameter group {gi} is not a dict with 'params'")
        ids = [_as_index(i) for i in saved["params"]]
        if len(ids) != len(group["params"]):
            raise ValueError(f"{name}: parameter group {gi} has {len(ids)} parameters in the state "
                             f"dict but {len(group['params'])} in this optimizer")
        missing = sorted(k for k in self.defaults if k not in saved)
        if missing:
            raise ValueError(f"{name}: parameter group {gi} lacks {missing} (saved from another "
                             f"optimizer?)")
        new = {k: _plain(v) for k, v in saved.items() if k != "params"}
        if "betas" in new:
            new["betas"] = tuple(new["betas"])
        self._check_group({**group, **new})
        params_by_index.update(zip(ids, group["params"]))
        return new

    def _staged_state(self, name: str, key: Any, p: Tensor, entry: Any) -> dict[str, Any]:
        if not isinstance(entry, Mapping) or set(entry) != set(self._state_keys):
            got = sorted(entry) if isinstance(entry, Mapping) else type(entry).__name__
            raise ValueError(f"{name}: state of parameter {key!r} has {got}, expected "
                             f"{sorted(self._state_keys)}")
        out = {}
        for k, v in entry.items():
            v = v.data if isinstance(v, Tensor) else v
            what = f"{name}: state {k!r} of parameter {key!r}"
            out[k] = (_step_count(what, v) if k == "step"
                      else _state_array(what, v, p, nonnegative=k in self._nonnegative_state))
        return out

    def __repr__(self) -> str:
        lines = [f"{self._name()} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines) + "\n)"


def _step_count(what: str, value: Any) -> int:
    """A loaded "step": a whole number >= 0 (0-d arrays and integral floats, as PyTorch saves
    it, included); it scales the update, so anything else is refused."""
    v = value.item() if B.is_array(value) and value.ndim == 0 else value
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
        raise ValueError(f"{what} must be an integer >= 0, got {value!r}")
    return int(v)


def _state_array(what: str, value: Any, p: Tensor, nonnegative: bool) -> Any:
    """A loaded state array: real numbers of the parameter's shape, no NaN (and no negative
    entry for a running average of squares), as a fresh copy on p's device in p's dtype."""
    if not B.is_array(value) or value.ndim == 0 and p.ndim:
        raise ValueError(f"{what} must be an array of the parameter's shape {tuple(p.shape)}, "
                         f"got {type(value).__name__} {value!r:.60}")
    if value.dtype.kind not in "iuf":
        raise ValueError(f"{what} must hold real numbers (an integer or float dtype), got dtype "
                         f"{value.dtype}")
    if tuple(value.shape) != tuple(p.shape):
        raise ValueError(f"{what} has shape {tuple(value.shape)} but the parameter has shape "
                         f"{tuple(p.shape)}")
    xp = B.array_module(value)
    if bool(xp.isnan(value).any()) if value.dtype.kind == "f" else False:
        raise ValueError(f"{what} holds NaN: the next step() would write NaN into the parameter")
    if nonnegative and bool((value < 0).any()):
        raise ValueError(f"{what} must be >= 0 everywhere (a running average of squares), got "
                         f"a minimum of {float(value.min())}")
    return _as_param_array(value, p)


def _as_param_array(value: Any, p: Tensor) -> Any:
    """A fresh copy of `value` on p's device, in p's dtype."""
    arr = B.to_backend(value, B.backend_of_device(p.device))
    return B.array_module(arr).array(arr, dtype=p.dtype, copy=True)


def _as_index(key: Any) -> int:
    """Parameter indexes are ints; accept 0-d arrays and digit strings from other formats."""
    if B.is_array(key):
        key = key.item()
    if isinstance(key, str) and key.isdigit():
        return int(key)
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return int(key)
    raise ValueError(f"optimizer state dict: parameter index {key!r} is not an integer")


def _plain(value: Any) -> Any:
    """A 0-d array (as md.load may return numbers) back to a Python number."""
    if B.is_array(value) and value.ndim == 0:
        return value.item()
    return value


def check_nonneg(owner: str, name: str, value: Any) -> None:
    """Raise TypeError unless `value` is a real number, ValueError unless it is >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{owner}: {name} must be a number >= 0, got {value!r}")
    if not value >= 0:
        raise ValueError(f"{owner}: {name} must be >= 0, got {value}")
