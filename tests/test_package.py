"""Every name in API.md's "Backends and devices" and "Tensors and autograd" sections exists on
`minidl` with the documented signature and defaults (more may be added after, never renamed)."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

import minidl as md
import minidl.functional as F

P = inspect.Parameter
EMPTY = P.empty
POS, VAR, KW = P.POSITIONAL_OR_KEYWORD, P.VAR_POSITIONAL, P.KEYWORD_ONLY

# (callable, [(name, kind, default)]) as documented, in order
SIGNATURES = {
    "set_backend": (md.set_backend, [("name", POS, EMPTY)]),
    "get_backend": (md.get_backend, []),
    "cuda_available": (md.cuda_available, []),
    "manual_seed": (md.manual_seed, [("seed", POS, EMPTY)]),
    "tensor": (md.tensor, [("data", POS, EMPTY), ("dtype", POS, None), ("requires_grad", POS, False),
                           ("device", POS, None)]),
    "concatenate": (md.concatenate, [("tensors", POS, EMPTY), ("axis", POS, 0)]),
    "stack": (md.stack, [("tensors", POS, EMPTY), ("axis", POS, 0)]),
    "where": (md.where, [("cond", POS, EMPTY), ("a", POS, EMPTY), ("b", POS, EMPTY)]),
    "is_grad_enabled": (md.is_grad_enabled, []),
    "gradcheck": (md.gradcheck, [("fn", POS, EMPTY), ("inputs", VAR, EMPTY), ("eps", KW, 1e-6),
                                 ("atol", KW, 1e-5), ("rtol", KW, 1e-3)]),
    "Tensor.backward": (md.Tensor.backward, [("self", POS, EMPTY), ("grad", POS, None),
                                             ("retain_graph", POS, False)]),
    "Tensor.numpy": (md.Tensor.numpy, [("self", POS, EMPTY)]),
    "Tensor.item": (md.Tensor.item, [("self", POS, EMPTY)]),
    "Tensor.detach": (md.Tensor.detach, [("self", POS, EMPTY)]),
    "Tensor.to": (md.Tensor.to, [("self", POS, EMPTY), ("name", POS, EMPTY)]),
    "Tensor.reshape": (md.Tensor.reshape, [("self", POS, EMPTY), ("shape", VAR, EMPTY)]),
    "Tensor.transpose": (md.Tensor.transpose, [("self", POS, EMPTY), ("axes", VAR, EMPTY)]),
    "Tensor.exp": (md.Tensor.exp, [("self", POS, EMPTY)]),
    "Tensor.log": (md.Tensor.log, [("self", POS, EMPTY)]),
    "Tensor.astype": (md.Tensor.astype, [("self", POS, EMPTY), ("dtype", POS, EMPTY)]),
    "F.relu": (F.relu, [("x", POS, EMPTY)]),
    "F.sigmoid": (F.sigmoid, [("x", POS, EMPTY)]),
    "F.tanh": (F.tanh, [("x", POS, EMPTY)]),
    "F.softmax": (F.softmax, [("x", POS, EMPTY), ("axis", POS, -1)]),
    "F.log_softmax": (F.log_softmax, [("x", POS, EMPTY), ("axis", POS, -1)]),
}
for _name in ("sum", "mean", "max"):
    SIGNATURES[f"Tensor.{_name}"] = (getattr(md.Tensor, _name), [
        ("self", POS, EMPTY), ("axis", POS, None), ("keepdims", POS, False)])


def documented_prefix(fn, expected):
    params = list(inspect.signature(fn).parameters.values())
    got = [(p.name, p.kind, p.default) for p in params[:len(expected)]]
    extra = params[len(expected):]
    return got, extra


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_signature(name):
    fn, expected = SIGNATURES[name]
    got, extra = documented_prefix(fn, expected)
    assert got == expected
    # anything added after the documented parameters must be optional
    assert all(p.default is not EMPTY or p.kind in (VAR, P.VAR_KEYWORD) for p in extra)


@pytest.mark.parametrize("fn", [md.zeros, md.ones, md.randn])
def test_creation_signatures(fn):
    params = inspect.signature(fn).parameters
    first = next(iter(params.values()))
    assert first.name == "shape" and first.kind == VAR
    assert params["requires_grad"].kind == KW and params["requires_grad"].default is False
    assert params["device"].kind == KW and params["device"].default is None
    assert params["dtype"].kind == KW and np.dtype(params["dtype"].default) == np.float32


def test_arange_signature():
    params = inspect.signature(md.arange).parameters
    assert list(params)[:3] == ["start", "stop", "step"]
    assert params["dtype"].default is None
    assert params["requires_grad"].default is False and params["device"].default is None


def test_exported_names_and_types():
    for name in ("set_backend", "get_backend", "cuda_available", "BackendUnavailableError",
                 "DeviceMismatchError", "tensor", "zeros", "ones", "randn", "arange", "manual_seed",
                 "float32", "float64", "int64", "Tensor", "concatenate", "stack", "where", "no_grad",
                 "is_grad_enabled", "gradcheck", "GradcheckError"):
        assert hasattr(md, name), name
        assert name in md.__all__, name
    assert issubclass(md.BackendUnavailableError, RuntimeError)
    assert issubclass(md.DeviceMismatchError, ValueError)
    assert issubclass(md.GradcheckError, Exception)
    assert (md.float32, md.float64, md.int64) == (np.float32, np.float64, np.int64)
    for name in ("relu", "sigmoid", "tanh", "softmax", "log_softmax"):
        assert name in F.__all__


def test_tensor_attributes_and_operators():
    t = md.tensor([1.0])
    for attr in ("data", "shape", "dtype", "ndim", "size", "device", "requires_grad", "grad"):
        assert hasattr(t, attr), attr
    assert isinstance(inspect.getattr_static(md.Tensor, "T"), property)
    for attr in ("shape", "dtype", "ndim", "size", "device"):
        assert isinstance(inspect.getattr_static(md.Tensor, attr), property), attr
    for op in ("add", "sub", "mul", "truediv", "pow", "matmul"):
        assert callable(getattr(md.Tensor, f"__{op}__")) and callable(getattr(md.Tensor, f"__r{op}__"))
    for op in ("neg", "getitem", "lt", "le", "gt", "ge", "eq", "ne"):
        assert callable(getattr(md.Tensor, f"__{op}__"))


def test_no_grad_is_a_context_manager():
    cm = md.no_grad()
    assert hasattr(cm, "__enter__") and hasattr(cm, "__exit__")
    with cm:
        assert not md.is_grad_enabled()
    assert md.is_grad_enabled()
