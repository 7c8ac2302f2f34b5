"""clip_grad_norm_: global L2 norm, PyTorch's scaling, grads replaced rather than written."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from minidl.nn import Parameter
from tests.helpers import assert_close


def with_grads(backend: str, *grads: list[float] | None) -> list[Parameter]:
    out = []
    for g in grads:
        p = Parameter(md.zeros(len(g) if g is not None else 1, dtype="float64", device=backend))
        p.grad = md.tensor(g, dtype="float64", device=backend) if g is not None else None
        out.append(p)
    return out


def test_clips_to_max_norm(backend):
    a, b, c = with_grads(backend, [3.0, 4.0], [12.0], None)
    shared = a.grad
    total = md.clip_grad_norm_([a, b, c], 6.5)
    assert isinstance(total, float) and total == pytest.approx(13.0, rel=1e-15)
    coef = 6.5 / (13.0 + 1e-6)
    assert_close(a.grad, [3.0 * coef, 4.0 * coef], rtol=1e-14)
    assert_close(b.grad, [12.0 * coef], rtol=1e-14)
    assert c.grad is None
    assert_close(shared, [3.0, 4.0])  # the old grad array was not written into


def test_leaves_small_gradients_alone(backend):
    a, b = with_grads(backend, [3.0, 4.0], [12.0])
    assert md.clip_grad_norm_(iter([a, b]), 13.5) == pytest.approx(13.0, rel=1e-15)
    assert_close(a.grad, [3.0, 4.0])
    assert_close(b.grad, [12.0])


def test_single_tensor_and_no_grads(backend):
    (a,) = with_grads(backend, [0.0, -2.0])
    assert md.clip_grad_norm_(a, 1.0) == pytest.approx(2.0)
    assert_close(a.grad, [0.0, -2.0 / (2.0 + 1e-6)], rtol=1e-14)
    (b,) = with_grads(backend, None)
    assert md.clip_grad_norm_([b], 1.0) == 0.0


def test_keeps_float32_grads_float32():
    p = Parameter(md.zeros(3))
    p.grad = md.tensor(np.array([10.0, 0.0, 0.0], dtype=np.float32))
    md.clip_grad_norm_([p], 1.0)
    assert p.grad.dtype == np.float32
    assert_close(p.grad, [1.0 * 10 / (10 + 1e-6), 0.0, 0.0], rtol=1e-6)


def test_rejects_negative_max_norm():
    with pytest.raises(ValueError, match="max_norm must be a number >= 0"):
        md.clip_grad_norm_([Parameter(md.zeros(1))], -1.0)
