"""PyTorch's names for axis arguments: `dim=` wherever `axis=` is, `keepdim=` wherever
`keepdims=` is; both at once is a TypeError naming both."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
import minidl.functional as F
from tests.helpers import assert_close, rand_tensor

X = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 4.0]])


def t64(backend, requires_grad=True):
    return md.tensor(X, dtype="float64", requires_grad=requires_grad, device=backend)


@pytest.mark.parametrize("name", ["sum", "mean", "var"])
def test_reductions_take_dim_and_keepdim(backend, name):
    x = t64(backend)
    for dim in (0, 1, -1, (0, 1)):
        for keep in (False, True):
            got = getattr(x, name)(dim=dim, keepdim=keep)
            assert got.requires_grad
            assert_close(got, getattr(x, name)(axis=dim, keepdims=keep))
    assert getattr(x, name)(1, keepdim=True).shape == (2, 1)
    assert md.gradcheck(lambda t: getattr(t, name)(dim=0, keepdim=True), x)


def test_sum_mean_values_as_torch(backend):
    x = t64(backend)
    assert x.sum(dim=(0, 1), keepdim=True).numpy().tolist() == [[9.0]]  # torch 2.13
    assert_close(x.mean(dim=0), [0.0, 1.0, 3.5])


def test_softmax_and_log_softmax_take_dim(backend):
    # torch 2.13, float64, dim=0
    soft = [[0.8807970779778823, 0.8807970779778823, 0.2689414213699951],
            [0.11920292202211755, 0.11920292202211755, 0.7310585786300049]]
    log_soft = [[-0.1269280110429726, -0.1269280110429726, -1.3132616875182228],
                [-2.1269280110429727, -2.1269280110429727, -0.31326168751822286]]
    x = t64(backend)
    assert_close(F.softmax(x, dim=0), soft)
    assert_close(x.softmax(dim=0), soft)
    assert_close(F.log_softmax(x, dim=0), log_soft)
    assert_close(x.log_softmax(0), log_soft)
    assert_close(F.softmax(x, 0), soft)
    assert_close(F.softmax(x, axis=0), soft)
    assert_close(F.softmax(x), F.softmax(x, dim=-1))  # the default stays the last axis
    assert md.gradcheck(lambda t: F.log_softmax(t, dim=0), rand_tensor((3, 2), backend))


def test_concatenate_stack_cat_take_dim(backend):
    a, b = t64(backend), t64(backend, requires_grad=False)
    assert md.cat([a, b], dim=1).shape == (2, 6) and md.cat([a, b], 1).shape == (2, 6)
    assert md.cat([a, b]).shape == (4, 3) and md.cat is md.concatenate
    assert md.stack([a, b], dim=2).shape == (2, 3, 2)
    assert_close(md.concatenate([a, b], dim=-1), np.concatenate([X, X], axis=-1))
    md.cat([a, b], dim=1).sum().backward()
    assert_close(a.grad, np.ones((2, 3)))


BOTH = {
    "sum": lambda x: x.sum(axis=0, dim=1), "mean": lambda x: x.mean(0, dim=0),
    "max": lambda x: x.max(axis=1, dim=1), "min": lambda x: x.min(0, dim=0),
    "var": lambda x: x.var(axis=0, dim=0), "argmax": lambda x: x.argmax(axis=0, dim=1),
    "argmin": lambda x: x.argmin(1, dim=1),
    "softmax": lambda x: F.softmax(x, axis=-1, dim=0), "log_softmax": lambda x: x.log_softmax(-1, dim=0),
    "concatenate": lambda x: md.cat([x, x], 0, dim=0), "stack": lambda x: md.stack([x], axis=0, dim=0),
}


@pytest.mark.parametrize("name", sorted(BOTH))
def test_axis_and_dim_together_is_a_type_error(backend, name):
    with pytest.raises(TypeError, match=f"{name}: got both axis=.* and dim="):
        BOTH[name](t64(backend))


def test_conflicting_keepdims_and_keepdim_is_a_type_error(backend):
    with pytest.raises(TypeError, match="both keepdims=True and keepdim=False"):
        t64(backend).sum(0, keepdims=True, keepdim=False)
    assert t64(backend).sum(0, keepdims=True, keepdim=True).shape == (1, 3)
