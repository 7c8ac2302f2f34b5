"""Compare analytic gradients with central finite differences."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from minidl import backend as B
from minidl.autograd.grad_mode import no_grad
from minidl.autograd.tensor import Tensor
from minidl.errors import GradcheckError


def _scalarize(out: Any, weights: list[Any] | None) -> tuple[Tensor, list[Any]]:
    """Reduce fn's output(s) to a scalar with fixed random weights (drawn once)."""
    outs = out if isinstance(out, (tuple, list)) else (out,)
    outs = [o for o in outs if isinstance(o, Tensor) and o.dtype.kind in "fc"]
    if weights is None:
        rng = np.random.default_rng(1234)
        # a scalar output is checked as is, so the reported values are its own derivatives
        scalar = len(outs) == 1 and outs[0].size == 1
        weights = [B.array_module(o.data).asarray(
            np.ones(o.shape) if scalar else rng.standard_normal(o.shape)).astype(o.dtype) for o in outs]
    total: Any = 0
    for o, w in zip(outs, weights):
        total = total + (o * w).sum()
    return total, weights


def gradcheck(fn: Callable[..., Any], *inputs: Any, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3) -> bool:
    """Check d fn(*inputs) / d input against central differences for every input that
    requires grad. Non-scalar outputs are summed with random weights. Returns True or
    raises GradcheckError naming the input, the worst index and both values."""
    # fresh leaf copies: the caller's tensors (leaf or not) are never perturbed or given .grad
    inputs = tuple(Tensor(x.data.copy(), requires_grad=True, name=x.name)
                   if isinstance(x, Tensor) and x.requires_grad else x for x in inputs)
    targets = [(i, x) for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not targets:
        raise ValueError("gradcheck: no input has requires_grad=True")
    loss, weights = _scalarize(fn(*inputs), None)
    if not isinstance(loss, Tensor) or not loss.requires_grad:
        raise GradcheckError("gradcheck: the output does not depend on any input that requires grad")
    loss.backward()
    for i, x in targets:
        analytic = B.to_numpy(x.grad.data) if x.grad is not None else np.zeros(x.shape)
        numeric = _numeric_grad(fn, inputs, x, weights, eps)
        err = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if err.size and err.max() > 0:
            worst = np.unravel_index(int(np.argmax(err)), err.shape)
            name = x.name or f"input {i}"
            raise GradcheckError(
                f"gradcheck failed for {name} (shape {x.shape}) at index {tuple(int(k) for k in worst)}: "
                f"analytic {float(analytic[worst])!r} vs numerical {float(numeric[worst])!r} "
                f"(atol={atol}, rtol={rtol})")
    return True


def _numeric_grad(fn: Callable[..., Any], inputs: tuple[Any, ...], x: Tensor,
                  weights: list[Any], eps: float) -> np.ndarray:
    if not x.data.flags.c_contiguous:  # (ascontiguousarray would turn a 0-d array 1-d)
        x.data = x.data.copy()
    flat = x.data.reshape(-1)  # a view: perturb in place, restore after
    grad = np.zeros(x.size, dtype=np.float64)
    with no_grad():
        for k in range(x.size):
            orig = flat[k].item()
            flat[k] = orig + eps
            plus = _scalarize(fn(*inputs), weights)[0].item()
            flat[k] = orig - eps
            minus = _scalarize(fn(*inputs), weights)[0].item()
            flat[k] = orig
            grad[k] = (plus - minus) / (2 * eps)
    return grad.reshape(x.shape)
