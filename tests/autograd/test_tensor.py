"""Tensor creation, dtype rules, attributes and conversions."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from tests.helpers import assert_close


# ---- md.tensor dtype rules -----------------------------------------------------------------

@pytest.mark.parametrize("data, dtype", [
    (1.5, md.float32), ([1.0, 2.0], md.float32), ([[1, 2.5]], md.float32),
    (3, md.int64), ([1, 2, 3], md.int64), ([True, False], np.dtype(bool)),
])
def test_python_data_dtypes(backend, data, dtype):
    t = md.tensor(data, device=backend)
    assert t.dtype == dtype
    assert t.shape == np.shape(data)
    assert t.numpy().tolist() == np.asarray(data).tolist()


def test_exported_dtypes_are_numpy_dtypes():
    assert md.float32 == np.float32 and md.float64 == np.float64 and md.int64 == np.int64
    assert isinstance(md.float32, np.dtype)


@pytest.mark.parametrize("np_dtype", [np.float64, np.float32, np.int32, np.int64, np.float16])
def test_numpy_arrays_keep_dtype_and_are_wrapped_without_copy(np_dtype):
    arr = np.arange(6).reshape(2, 3).astype(np_dtype)
    assert md.tensor(arr).data is arr
    assert md.tensor(arr).dtype == np_dtype
    assert md.tensor(arr, dtype=np_dtype).data is arr
    assert md.tensor(arr, dtype=np.dtype(np_dtype).name, device="cpu").data is arr


def test_dtype_argument_converts_and_copies(backend):
    arr = np.arange(3, dtype=np.float64)
    for spec in ("float32", np.float32, md.float32, np.dtype("float32")):
        t = md.tensor(arr, dtype=spec, device=backend)
        assert t.dtype == md.float32
    t = md.tensor(arr, dtype="float32")
    t.data[0] = 99.0
    assert arr[0] == 0.0  # converted, so never aliased
    assert md.tensor([1, 2], dtype="float64", device=backend).dtype == md.float64
    assert md.tensor([1.7, -2.2], dtype=md.int64, device=backend).numpy().tolist() == [1, -2]


def test_numpy_scalar_keeps_its_dtype_as_a_0d_array():
    t = md.tensor(np.float64(2.5), requires_grad=True)
    assert t.dtype == md.float64 and t.shape == () and isinstance(t.data, np.ndarray)
    (t * t).backward()
    assert t.grad.item() == 5.0


def test_tensor_from_tensor_and_bad_inputs(backend):
    a = md.tensor([1.0, 2.0], device=backend)
    b = md.tensor(a, dtype="float64")
    assert b.dtype == md.float64 and b.numpy().tolist() == [1.0, 2.0]
    with pytest.raises(TypeError, match="dtype"):
        md.tensor([1.0], dtype="not-a-dtype")
    with pytest.raises(TypeError):
        md.tensor([1, 2], requires_grad=True)  # only floating tensors can require grad
    with pytest.raises(ValueError, match="tensor"):
        md.tensor([[1.0, 2.0], [3.0]])  # ragged
    with pytest.raises(ValueError, match="backend"):
        md.tensor([1.0], device="tpu")


def test_requires_grad_flag(backend):
    t = md.tensor([1.0], requires_grad=True, device=backend)
    assert t.requires_grad and t.grad is None and t.is_leaf
    assert not md.tensor([1.0], device=backend).requires_grad


# ---- creation functions ----------------------------------------------------------------------

@pytest.mark.parametrize("fn, fill", [(md.zeros, 0.0), (md.ones, 1.0)])
def test_zeros_ones(backend, fn, fill):
    t = fn(2, 3, device=backend)
    assert t.shape == (2, 3) and t.dtype == md.float32 and not t.requires_grad
    assert (t.numpy() == fill).all()
    assert fn((4,), device=backend).shape == (4,)
    assert fn(2, dtype="float64", device=backend).dtype == md.float64
    assert fn(2, dtype=md.int64, device=backend).dtype == md.int64
    assert fn(2, requires_grad=True, device=backend).requires_grad
    assert fn(2, device=backend).device == ("cuda" if backend == "cupy" else "cpu")


def test_dtype_none_means_float32_and_like_functions(backend):
    for fn in (md.zeros, md.ones, md.randn, md.rand):
        assert fn(2, dtype=None, device=backend).dtype == md.float32
    x = md.ones(2, 3, dtype="float64", device=backend)
    assert md.zeros_like(x).dtype == md.float64 and md.zeros_like(x).shape == (2, 3)
    assert md.ones_like(x, dtype=md.float32).dtype == md.float32  # an explicit dtype wins
    assert md.zeros_like(x, dtype="int64").dtype == md.int64
    assert (md.ones_like(x).numpy() == 1).all()


def test_randn_arange(backend):
    r = md.randn(3, 4, device=backend)
    assert r.shape == (3, 4) and r.dtype == md.float32
    assert md.randn((2,), dtype="float64", requires_grad=True, device=backend).requires_grad
    assert md.randn(2, dtype=md.float64, device=backend).dtype == md.float64
    a = md.arange(5, device=backend)
    assert a.dtype == md.int64 and a.numpy().tolist() == [0, 1, 2, 3, 4]
    f = md.arange(1, 2, 0.25, device=backend)
    assert f.dtype == md.float32 and f.numpy().tolist() == [1.0, 1.25, 1.5, 1.75]
    d = md.arange(0, 3, dtype="float64", requires_grad=True, device=backend)
    assert d.dtype == md.float64 and d.requires_grad and d.numpy().tolist() == [0.0, 1.0, 2.0]


def test_randn_is_roughly_standard_normal():
    md.manual_seed(0)
    r = md.randn(20000, dtype="float64").numpy()
    assert abs(r.mean()) < 0.05 and abs(r.std() - 1) < 0.05


def test_manual_seed_makes_random_tensors_repeatable(backend):
    md.manual_seed(123)
    a, u = md.randn(5, device=backend).numpy(), md.rand(5, device=backend).numpy()
    md.manual_seed(123)
    b, v = md.randn(5, device=backend).numpy(), md.rand(5, device=backend).numpy()
    md.manual_seed(124)
    c = md.randn(5, device=backend).numpy()
    assert (a == b).all() and (u == v).all()
    assert not (a == c).all()
    assert ((u >= 0) & (u < 1)).all()


# ---- attributes and conversions -------------------------------------------------------------

def test_attributes(backend):
    t = md.tensor(np.zeros((2, 3, 4)), device=backend)
    assert t.shape == (2, 3, 4) and isinstance(t.shape, tuple)
    assert t.dtype == md.float64 and t.ndim == 3 and t.size == 24 and len(t) == 2
    assert t.device == ("cuda" if backend == "cupy" else "cpu")
    assert t.grad is None and not t.requires_grad


def test_numpy_item_detach(backend):
    x = md.tensor([[1.0, 2.0]], requires_grad=True, device=backend)
    n = x.numpy()
    assert isinstance(n, np.ndarray) and n.tolist() == [[1.0, 2.0]]
    s = x.sum()
    assert isinstance(s.item(), float) and s.item() == 3.0
    assert isinstance(md.tensor(7, device=backend).item(), int)
    with pytest.raises(ValueError, match="item"):
        x.item()
    d = (x * 2).detach()
    assert not d.requires_grad and d.creator is None and d.numpy().tolist() == [[2.0, 4.0]]
    assert x.detach().data is x.data  # same storage, no graph


def test_numpy_shares_memory_on_cpu():
    x = md.tensor([1.0, 2.0])
    x.numpy()[0] = 5.0
    assert x.data[0] == 5.0


def test_to_same_backend_is_identity(backend):
    x = md.tensor([1.0, 2.0], requires_grad=True, device=backend)
    for name in ((backend,) + (("cpu", "numpy") if backend == "numpy" else ("cuda", "gpu", "cupy"))):
        assert x.to(name) is x


def test_to_roundtrip_keeps_values_and_leafness(backend):
    x = md.tensor([1.0, 2.0], requires_grad=True)  # on the CPU
    y = x.to(backend)
    assert y.device == ("cuda" if backend == "cupy" else "cpu")
    assert y.requires_grad and y.numpy().tolist() == [1.0, 2.0]
    z = (x * 3).to(backend)  # a non-leaf moves differentiably
    z.sum().backward()
    assert_close(x.grad, [3.0, 3.0])


def test_repr():
    assert repr(md.tensor([1.0, 2.0])) == "tensor([1., 2.], dtype=float32)"
    assert repr(md.tensor([[1, 2], [3, 4]])) == "tensor([[1, 2],\n        [3, 4]], dtype=int64)"
    assert repr(md.tensor(0.5, dtype="float64", requires_grad=True)) == \
        "tensor(0.5, dtype=float64, requires_grad=True)"


def test_comparisons_return_tensors_without_grad(backend):
    x = md.tensor([1.0, 2.0, 3.0], requires_grad=True, device=backend)
    y = md.tensor([3.0, 2.0, 1.0], requires_grad=True, device=backend)
    cases = {
        "<": (x < y, [True, False, False]), "<=": (x <= 2.0, [True, True, False]),
        ">": (x > y, [False, False, True]), ">=": (x >= y, [False, True, True]),
        "==": (x == y, [False, True, False]), "!=": (x != 2, [True, False, True]),
    }
    for op, (out, expected) in cases.items():
        assert isinstance(out, md.Tensor), op
        assert out.dtype == np.dtype(bool) and not out.requires_grad and out.creator is None, op
        assert out.numpy().tolist() == expected, op


def test_operators_with_numpy_array_on_the_left():
    x = md.tensor([1.0, 2.0], requires_grad=True)
    for out in (np.ones(2) + x, np.ones(2) - x, np.ones(2) * x, np.ones(2) / x, np.ones(2) ** x):
        assert isinstance(out, md.Tensor) and out.requires_grad


def test_tensor_is_hashable_by_identity():
    a, b = md.tensor([1.0]), md.tensor([1.0])
    assert len({a, b, a}) == 2
