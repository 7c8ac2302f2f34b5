"""Tensor creation, dtype rules, attributes and conversions."""
from __future__ import annotations

import inspect

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


# ---- PyTorch habits: Python numbers, formatting ----------------------------------------------

def test_one_element_tensors_convert_to_python_numbers(backend):
    # values from torch 2.13: int() truncates toward zero, bool() of a 0.0 is False
    t = md.tensor(2.75, device=backend)
    assert float(t) == 2.75 and isinstance(float(t), float)
    assert int(md.tensor(-2.7, device=backend)) == -2 and int(md.tensor([[3.9]], device=backend)) == 3
    assert float(md.tensor([2], device=backend)) == 2.0
    assert bool(md.tensor([0.0], device=backend)) is False and bool(md.tensor(2, device=backend)) is True
    x = md.tensor([1.0, 2.0], requires_grad=True, device=backend)
    assert float((x * x).sum()) == 5.0  # the loss of a graph, as float(loss)


@pytest.mark.parametrize("convert", [float, int])
def test_float_int_of_many_elements_raise_as_torch(backend, convert):
    for data in ([1.0, 2.0], []):
        with pytest.raises(ValueError, match="only one element tensors can be converted to Python scalars"):
            convert(md.tensor(data, device=backend))


def test_bool_of_many_elements_is_ambiguous(backend):
    with pytest.raises(ValueError, match="more than one value is ambiguous"):
        bool(md.tensor([1.0, 2.0], device=backend))
    with pytest.raises(RuntimeError, match="no values is ambiguous"):  # PyTorch's type too
        bool(md.zeros(0, device=backend))


def test_integer_one_element_tensors_index_python_sequences(backend):
    items = ["a", "b", "c", "d"]
    assert items[md.tensor(2, device=backend)] == "c"
    assert items[md.tensor([1], device=backend)] == "b"
    assert list(range(md.tensor(3, device=backend))) == [0, 1, 2]
    with pytest.raises(TypeError, match="only integer tensors of a single element"):
        items[md.tensor(2.0, device=backend)]
    with pytest.raises(TypeError, match="only integer tensors of a single element"):
        items[md.tensor([1, 2], device=backend)]


def test_format_as_torch(backend):
    # strings from torch 2.13
    assert f"{md.tensor(2.0 / 3, device=backend):.4f}" == "0.6667"
    assert f"{md.tensor(7, device=backend):03d}" == "007"
    assert f"{md.tensor(1234.5, device=backend):,.1f}" == "1,234.5"
    assert f"{md.tensor(0.5, device=backend):e}" == "5.000000e-01"
    assert f"{md.tensor(2.0 / 3, device=backend)}" == "0.6666666865348816"  # a 0-d: its value
    x = md.tensor([1.0, 2.0], requires_grad=True, device=backend)
    loss = (x * x).mean()
    assert f"loss {loss:.4f}" == "loss 2.5000"
    # minidl formats any one-element tensor given a spec (PyTorch: 0-d only)
    assert f"{md.tensor([[0.125]], device=backend):.2f}" == "0.12"


def test_format_of_larger_tensors_prints_or_raises_as_torch(backend):
    t = md.tensor([1.0, 2.0], device=backend)
    assert f"{t}" == str(t) == repr(t)
    assert f"{md.tensor([1.5], device=backend)}" == repr(md.tensor([1.5], device=backend))
    with pytest.raises(TypeError, match="unsupported format string passed to Tensor.__format__"):
        f"{t:.4f}"


# ---- PyTorch habits: methods ------------------------------------------------------------------

def test_float_double_long_copies_or_self(backend):
    x = md.tensor([1.7, -1.7, 2.5], device=backend)
    assert x.float() is x
    d = x.double()
    assert d.dtype == md.float64 and d.double() is d and d.data is not x.data
    lo = x.long()
    assert lo.dtype == md.int64 and lo.long() is lo
    assert lo.numpy().tolist() == [1, -1, 2]  # truncated toward zero, as torch's .long()
    assert x.int().dtype == np.int32 and x.bool().numpy().tolist() == [True, True, True]
    assert lo.float().dtype == md.float32


def test_double_and_float_are_differentiable(backend):
    x = md.tensor([1.0, 2.0], requires_grad=True, device=backend)
    y = x.double()
    assert y.requires_grad and y.dtype == md.float64
    (y * y).sum().backward()
    assert x.grad.dtype == md.float32
    assert_close(x.grad, [2.0, 4.0])
    assert not x.long().requires_grad  # integers carry no gradient


def test_numel_dim_and_callable_size(backend):
    x = md.zeros(2, 3, 4, device=backend)
    assert x.numel() == 24 and x.dim() == 3
    assert x.size == 24 and isinstance(x.size, int) and x.size + 1 == 25  # NumPy's attribute
    assert x.size() == (2, 3, 4) and x.size(0) == 2 and x.size(-1) == 4  # PyTorch's method
    with pytest.raises(IndexError, match="dim 3 is out of range"):
        x.size(3)


def test_view_and_permute(backend):
    x = md.tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True, device=backend)
    assert x.view(6, 4).shape == (6, 4) and x.view(-1).shape == (24,) and x.view((4, 6)).shape == (4, 6)
    p = x.permute(2, 0, 1)
    assert p.shape == (4, 2, 3) and x.permute((2, 0, 1)).shape == (4, 2, 3)
    assert_close(p, np.arange(24.0).reshape(2, 3, 4).transpose(2, 0, 1))
    assert md.gradcheck(lambda t: t.permute(1, 2, 0).view(3, -1), x.double())
    with pytest.raises(ValueError, match="not a permutation"):
        x.permute(0, 1)


def test_clone_is_a_differentiable_copy(backend):
    x = md.tensor([1.0, 2.0], dtype="float64", requires_grad=True, device=backend)
    c = x.clone()
    assert c.data is not x.data and c.requires_grad and not c.is_leaf
    with md.no_grad():
        c += 1  # the copy owns its array
    assert_close(x, [1.0, 2.0])
    assert md.gradcheck(lambda t: t.clone() * t, x)


def test_tolist_cpu_cuda(backend):
    x = md.tensor([[1, 2]], device=backend)
    assert x.tolist() == [[1, 2]]
    assert x.cpu().device == "cpu"
    if backend == "cupy":
        assert x.cpu().cuda().device == "cuda"


def test_to_takes_torch_device_strings_and_dtypes(backend):
    x = md.tensor([1.5, 2.5], requires_grad=True)
    device = "cuda:0" if backend == "cupy" else "cpu"
    y = x.to(device)
    assert y.device == ("cuda" if backend == "cupy" else "cpu")
    assert x.to(md.float64).dtype == md.float64 and x.to("float64").dtype == md.float64
    z = x.to(device, md.float64)
    assert z.dtype == md.float64 and z.device == y.device and z.numpy().tolist() == [1.5, 2.5]
    assert x.to("cpu", dtype="float32") is x and x.to(md.float32) is x
    with pytest.raises(ValueError, match="one GPU"):
        x.to("cuda:1")


# ---- creation: full, eye, from_numpy ------------------------------------------------------------

def test_full_dtype_follows_the_value_as_torch(backend):
    assert md.full((2,), 3, device=backend).dtype == md.int64
    assert md.full((2,), 1.5, device=backend).dtype == md.float32
    assert md.full((2,), True, device=backend).dtype == np.dtype(bool)
    t = md.full((2, 1), 2.5, dtype=md.float64, device=backend)
    assert t.dtype == md.float64 and t.numpy().tolist() == [[2.5], [2.5]]
    assert md.full(3, 0.5, device=backend).shape == (3,)
    assert md.full((2,), 1.0, requires_grad=True, device=backend).requires_grad


def test_eye(backend):
    assert md.eye(2, 3, device=backend).numpy().tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    e = md.eye(3, device=backend)
    assert e.dtype == md.float32 and e.shape == (3, 3)
    assert md.eye(2, dtype="float64", device=backend).dtype == md.float64


def test_from_numpy_shares_memory_and_keeps_dtype():
    a = np.arange(3.0)
    t = md.from_numpy(a)
    assert t.dtype == md.float64 and t.device == "cpu"
    a[0] = 9.0
    assert t.numpy().tolist() == [9.0, 1.0, 2.0]
    t[1] = -1.0
    assert a.tolist() == [9.0, -1.0, 2.0]
    with pytest.raises(TypeError, match=r"expected np.ndarray \(got list\)"):
        md.from_numpy([1, 2])
    with pytest.raises(TypeError, match="dtype"):
        md.from_numpy(np.array(["a"]))


# ---- the version 2 signatures (API.md "Tensors: what PyTorch users type") ------------------------

P = inspect.Parameter
V2_SIGNATURES = {
    md.full: "(shape, fill_value, dtype=None, requires_grad=False, device=None)",
    md.eye: "(n, m=None, dtype=None, requires_grad=False, device=None)",
    md.from_numpy: "(ndarray)",
    md.cat: "(tensors, axis=0, *, dim=None)",
    md.concatenate: "(tensors, axis=0, *, dim=None)",
    md.stack: "(tensors, axis=0, *, dim=None)",
    md.Tensor.view: "(self, *shape)",
    md.Tensor.permute: "(self, *axes)",
    md.Tensor.clamp: "(self, min=None, max=None)",
    md.Tensor.clamp_: "(self, min=None, max=None)",
    md.Tensor.argmax: "(self, axis=None, keepdims=False, *, dim=None, keepdim=None)",
    md.Tensor.argmin: "(self, axis=None, keepdims=False, *, dim=None, keepdim=None)",
    md.Tensor.min: "(self, axis=None, keepdims=False, *, dim=None, keepdim=None)",
    md.Tensor.max: "(self, axis=None, keepdims=False, *, dim=None, keepdim=None)",
    md.Tensor.sum: "(self, axis=None, keepdims=False, *, dim=None, keepdim=None)",
    md.Tensor.add_: "(self, other, alpha=1)",
    md.Tensor.fill_: "(self, value)",
    md.Tensor.copy_: "(self, src)",
    md.Tensor.to: "(self, name, dtype=None)",
    md.functional.softmax: "(x, axis=-1, *, dim=None)",
    md.functional.log_softmax: "(x, axis=-1, *, dim=None)",
}


@pytest.mark.parametrize("fn", list(V2_SIGNATURES), ids=lambda f: f.__qualname__)
def test_version_2_signatures(fn):
    sig = inspect.signature(fn).replace(return_annotation=inspect.Signature.empty)
    plain = sig.replace(parameters=[p.replace(annotation=P.empty) for p in sig.parameters.values()])
    assert str(plain) == V2_SIGNATURES[fn]


@pytest.mark.parametrize("name", ["float", "double", "long", "clone", "numel", "dim", "abs", "sqrt",
                                  "cpu", "cuda", "tolist", "zero_", "mul_"])
def test_version_2_methods_exist(name):
    assert callable(getattr(md.Tensor, name))


def test_torch_dtype_names_and_t(backend):
    assert md.long == md.int64 and md.float == md.float32 and md.double == md.float64
    assert md.tensor([1, 0], dtype=md.long, device=backend).dtype == md.int64
    assert "float" not in md.__all__ and "long" not in md.__all__  # star imports keep the builtins
    x = md.tensor([[1.0, 2.0, 3.0]], requires_grad=True, device=backend)
    assert x.t().shape == (3, 1) and md.tensor([1.0], device=backend).t().shape == (1,)
    x.t().sum().backward()
    assert x.grad.shape == (1, 3)
    with pytest.raises(ValueError, match="at most 2 dimensions"):
        md.zeros(1, 2, 3, device=backend).t()


def test_any_all_pow_contiguous_is_cuda(backend):
    x = md.tensor([[0.0, 2.0], [0.0, 0.0]], requires_grad=True, device=backend)
    assert bool(x.any()) and not bool(x.all()) and x.any().dtype == np.dtype(bool)
    assert x.any(dim=1).numpy().tolist() == [True, False]
    assert x.all(axis=0, keepdims=True).numpy().tolist() == [[False, False]]
    assert (x > -1).all(dim=1, keepdim=True).shape == (2, 1)
    assert x.contiguous() is x and x.is_cuda == (backend == "cupy")
    x.pow(2).sum().backward()
    assert x.grad.numpy().tolist() == [[0.0, 4.0], [0.0, 0.0]]


# ---- creation shapes and backward(grad=) name the call ----------------------------------------

@pytest.mark.parametrize("make, name", [
    (lambda *s: md.zeros(*s), "zeros"), (lambda *s: md.ones(*s), "ones"),
    (lambda *s: md.randn(*s), "randn"), (lambda *s: md.rand(*s), "rand"),
    (lambda *s: md.full(s, 1.0), "full"), (lambda *s: md.eye(*s), "eye")])
def test_creation_refuses_negative_and_fractional_sizes_naming_the_call(make, name):
    with pytest.raises(ValueError, match=rf"{name}: a shape takes sizes >= 0, got \(-1, 3\)"):
        make(-1, 3)
    with pytest.raises(TypeError, match=rf"{name}: a shape takes integer sizes, got \(1.5, 3\)"):
        make(1.5, 3)
    assert make(np.int64(2), np.int32(3)).shape == (2, 3)  # NumPy integers are sizes
    assert make(0, 3).shape == (0, 3)


@pytest.mark.parametrize("grad", ["abc", None, ["a", "b"]])
def test_backward_refuses_a_grad_that_holds_no_numbers(grad):
    y = md.tensor([1.0, 2.0], requires_grad=True) * 2
    if grad is None:  # grad=None on a non-scalar: the shape message (PyTorch's)
        with pytest.raises(ValueError, match="implicitly created only for scalar outputs"):
            y.backward(grad)
        return
    with pytest.raises(TypeError, match=r"backward\(\): grad must"):
        y.backward(grad)
    with pytest.raises(TypeError, match=r"backward\(\): grad must"):
        y.sum().backward(grad)
