"""md.gradcheck: passes correct ops, names the input, index and values of a wrong one."""
from __future__ import annotations

import re

import numpy as np
import pytest

import minidl as md
from minidl.autograd.function import Function
from minidl.autograd.tensor import Tensor


class HalfSquare(Function):
    """x ** 2 with a wrong backward (x instead of 2x)."""

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, gy):
        return gy * self.x


class SlightlyOff(Function):
    """2x with a gradient 1% too large."""

    def forward(self, x):
        return 2 * x

    def backward(self, gy):
        return 2.02 * gy


def t64(data, backend, requires_grad=True):
    return md.tensor(np.asarray(data, dtype=np.float64), requires_grad=requires_grad, device=backend)


def test_correct_op_returns_true(backend):
    x = t64([[1.0, -2.0], [0.5, 3.0]], backend)
    assert md.gradcheck(lambda t: (t * t).sum(), x) is True
    assert md.gradcheck(lambda t: t * t, x) is True  # non-scalar output


def test_wrong_backward_names_input_index_and_values(backend):
    x = t64([1.0, 2.0, 3.0], backend)
    with pytest.raises(md.GradcheckError) as info:
        md.gradcheck(lambda t: HalfSquare()(t).sum(), x)
    msg = str(info.value)
    assert "input 0" in msg and "(2,)" in msg  # the worst index: |x - 2x| is largest at x=3
    analytic, numeric = (float(v) for v in re.findall(r"analytic (\S+) vs numerical (\S+?) ", msg)[0])
    assert analytic == pytest.approx(3.0) and numeric == pytest.approx(6.0, rel=1e-6)


def test_error_names_the_failing_input(backend):
    a, b = t64([1.0, 2.0], backend), t64([[0.5, 1.5]], backend)
    with pytest.raises(md.GradcheckError, match=r"input 1 \(shape \(1, 2\)\) at index \(0, 1\)"):
        md.gradcheck(lambda u, v: (u * 3 + HalfSquare()(v)).sum(), a, b)
    named = Tensor(np.array([1.0, 4.0]), requires_grad=True, name="weight")
    with pytest.raises(md.GradcheckError, match="weight"):
        md.gradcheck(lambda t: HalfSquare()(t), named)


def test_wrong_backward_in_a_non_scalar_output(backend):
    x = t64(np.linspace(0.5, 2, 6).reshape(2, 3), backend)
    with pytest.raises(md.GradcheckError):
        md.gradcheck(lambda t: HalfSquare()(t) + t, x)


def test_tuple_outputs_are_all_checked(backend):
    x = t64([1.0, 2.0], backend)
    assert md.gradcheck(lambda t: (t * 2, t.exp()), x)
    with pytest.raises(md.GradcheckError):
        md.gradcheck(lambda t: (t * 2, HalfSquare()(t)), x)


def test_tolerances_are_honoured(backend):
    x = t64([1.0, 2.0], backend)
    with pytest.raises(md.GradcheckError):
        md.gradcheck(lambda t: SlightlyOff()(t).sum(), x)  # error 0.02 on gradients of 2
    assert md.gradcheck(lambda t: SlightlyOff()(t).sum(), x, rtol=0.05)
    assert md.gradcheck(lambda t: SlightlyOff()(t).sum(), x, atol=0.05, rtol=0.0)
    assert md.gradcheck(lambda t: t.exp(), x, eps=1e-4)


def test_only_inputs_requiring_grad_are_checked(backend):
    x = t64([1.0, 2.0], backend)
    c = t64([3.0, 4.0], backend, requires_grad=False)
    assert md.gradcheck(lambda u, v: u * HalfSquare()(v), x, c)  # c's wrong gradient is never used
    assert md.gradcheck(lambda u, k: u * k, x, 2.5)  # non-tensor arguments pass through


def test_no_input_requiring_grad_is_an_error(backend):
    with pytest.raises(ValueError, match="requires_grad"):
        md.gradcheck(lambda t: t * 2, t64([1.0], backend, requires_grad=False))


def test_output_not_depending_on_inputs_is_an_error(backend):
    x = t64([1.0], backend)
    with pytest.raises(md.GradcheckError):
        md.gradcheck(lambda t: md.ones(2, dtype="float64", device=backend), x)


def test_callers_tensors_are_left_untouched(backend):
    x = t64([[1.0, 2.0]], backend)
    before = x.numpy().copy()
    md.gradcheck(lambda t: (t ** 3).sum(), x)
    assert x.grad is None
    assert (x.numpy() == before).all()


def test_0d_input_stays_0d(backend):
    seen = []

    def fn(t):
        seen.append(t.shape)
        return t * t
    assert md.gradcheck(fn, t64(2.0, backend))
    assert set(seen) == {()}
