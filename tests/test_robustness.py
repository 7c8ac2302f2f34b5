"""The robustness walk: every public op and layer through a zero-size batch, every subset of
its inputs (and parameters) requiring grad, NaN in the input, float32 and float64, and
non-contiguous inputs, on every kernel path (Numba, the reference kernels, the GPU path).

Each case builds its inputs for a batch of N (axis 0 of the first input, or wherever the
op puts the batch) from a seeded generator; floating inputs take the dtype under test.
What PyTorch does (torch 2.13, checked by hand) is pinned per case: how many outputs are
NaN with one NaN in the first floating input, and what a zero-size batch gives.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import minidl as md
import minidl.functional as F
from minidl import nn
from minidl.kernels import _route
from tests.conftest import GPU_REASON

NAN_AT = 1  # flat index of the NaN put into the first floating input (not the first: a
# window's first element was the one place max pooling saw a NaN)


def _f(*shape: int) -> Callable[[int, np.random.Generator], np.ndarray]:
    """A float input: (N, *shape) standard normal."""
    return lambda n, rng: rng.standard_normal((n, *shape))


def _pos(*shape: int) -> Callable[[int, np.random.Generator], np.ndarray]:
    """A positive float input (log, sqrt, division, probabilities)."""
    return lambda n, rng: rng.uniform(0.2, 0.8, (n, *shape))


def _w(*shape: int) -> Callable[[int, np.random.Generator], np.ndarray]:
    """A float input without a batch axis (a weight)."""
    return lambda n, rng: rng.standard_normal(shape) * 0.5


def _var(*shape: int) -> Callable[[int, np.random.Generator], np.ndarray]:
    """A positive input without a batch axis (a running variance)."""
    return lambda n, rng: rng.uniform(0.5, 1.5, shape)


def _ids(high: int, *shape: int) -> Callable[[int, np.random.Generator], np.ndarray]:
    return lambda n, rng: rng.integers(0, high, (n, *shape))


def _mask(*shape: int) -> Callable[[int, np.random.Generator], np.ndarray]:
    return lambda n, rng: rng.random((n, *shape)) < 0.5


@dataclass(frozen=True)
class Case:
    """`fn(module, *tensors) -> Tensor`; `module()` builds the layer (None for an op)."""

    name: str
    fn: Callable[..., Any]
    inputs: tuple[Callable[[int, np.random.Generator], np.ndarray], ...]
    module: Callable[[], nn.Module] | None = None
    # NaN outputs with one NaN in the first floating input (torch 2.13), or the error to match
    nan_count: int | str = 1
    empty: str = "batch"  # zero-size batch: "batch" (the batch axis is 0), "nan"/"zero"
    # (a scalar reduction over nothing), or an error message to match
    const: tuple[int, ...] = ()  # floating inputs that never take a gradient


def _op(name: str, fn: Callable[..., Any], *inputs: Any, **kw: Any) -> Case:
    return Case(name, lambda m, *xs: fn(*xs), tuple(inputs), **kw)


def _layer(name: str, make: Callable[[], nn.Module], *inputs: Any, call: Any = None, **kw: Any) -> Case:
    fn = call or (lambda m, *xs: m(*xs))
    return Case(name, fn, tuple(inputs), module=make, **kw)


def _seeded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Random ops (dropout) draw the same mask in every run of a case."""
    def run(*args: Any) -> Any:
        md.manual_seed(0)
        return fn(*args)
    return run


OPS = [
    _op("relu", F.relu, _f(3)),
    _op("sigmoid", F.sigmoid, _f(3)),
    _op("tanh", F.tanh, _f(3)),
    _op("leaky_relu", lambda x: F.leaky_relu(x, 0.1), _f(3)),
    _op("gelu", F.gelu, _f(3)),
    _op("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), _f(3)),
    _op("silu", F.silu, _f(3)),
    _op("elu", F.elu, _f(3)),
    _op("softmax", F.softmax, _f(3), nan_count=3),
    _op("log_softmax", F.log_softmax, _f(3), nan_count=3),
    _op("linear", F.linear, _f(3), _w(3, 4), _w(4), nan_count=4),
    _op("conv2d", lambda x, w, b: F.conv2d(x, w, b, padding=1), _f(2, 4, 4), _w(3, 2, 3, 3), _w(3),
        nan_count=18),
    _op("conv2d_stride", lambda x, w: F.conv2d(x, w, stride=2), _f(2, 5, 5), _w(3, 2, 3, 3), nan_count=3),
    _op("max_pool2d", lambda x: F.max_pool2d(x, 2), _f(2, 4, 4)),
    _op("max_pool2d_overlap", lambda x: F.max_pool2d(x, 3, 1, 1), _f(2, 4, 4), nan_count=6),
    _op("avg_pool2d", lambda x: F.avg_pool2d(x, 2), _f(2, 4, 4)),
    _op("avg_pool2d_overlap", lambda x: F.avg_pool2d(x, 3, 1, 1), _f(2, 4, 4), nan_count=6),
    _op("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (3, 3)), _f(2, 4, 4), nan_count=2),
    _op("dropout", _seeded(lambda x: F.dropout(x, 0.5)), _f(3)),
    _op("embedding", F.embedding, _ids(5, 3), _w(5, 4), nan_count=1),
    _op("batch_norm", lambda x, rm, rv, w, b: F.batch_norm(x, rm, rv, w, b, training=True),
        _f(3), _w(3), _var(3), _w(3), _w(3), const=(1, 2), nan_count=2),
    _op("batch_norm_eval", lambda x, rm, rv, w, b: F.batch_norm(x, rm, rv, w, b),
        _f(3), _w(3), _var(3), _w(3), _w(3), const=(1, 2)),
    _op("layer_norm", lambda x, w, b: F.layer_norm(x, (3,), w, b), _f(3), _w(3), _w(3), nan_count=3),
    # torch's fused CPU kernel loses this NaN (0 NaN outputs); its math path gives 4, as minidl
    _op("scaled_dot_product_attention", F.scaled_dot_product_attention, _f(2, 3, 4), _f(2, 3, 4), _f(2, 3, 4), nan_count=4),
    _op("scaled_dot_product_attention_causal", lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        _f(2, 3, 4), _f(2, 3, 4), _f(2, 3, 4), nan_count=4),
    _op("mse_loss", F.mse_loss, _f(3), _f(3), empty="nan"),
    _op("mse_loss_sum", lambda p, t: F.mse_loss(p, t, reduction="sum"), _f(3), _f(3), empty="zero"),
    _op("mse_loss_none", lambda p, t: F.mse_loss(p, t, reduction="none"), _f(3), _f(3)),
    _op("l1_loss", F.l1_loss, _f(3), _f(3), empty="nan"),
    _op("smooth_l1_loss", F.smooth_l1_loss, _f(3), _f(3), empty="nan"),
    _op("huber_loss", F.huber_loss, _f(3), _f(3), empty="nan"),
    _op("cross_entropy", F.cross_entropy, _f(4), _ids(4), empty="nan"),
    _op("cross_entropy_sum", lambda x, t: F.cross_entropy(x, t, reduction="sum"), _f(4), _ids(4),
        empty="zero"),
    _op("cross_entropy_probs", F.cross_entropy, _f(4), _pos(4), empty="nan"),
    _op("cross_entropy_smoothing", lambda x, t: F.cross_entropy(x, t, label_smoothing=0.1),
        _f(4), _ids(4), empty="nan"),
    _op("nll_loss", F.nll_loss, _f(4), _ids(4), empty="nan"),
    # NaN probabilities are refused, as torch does (RuntimeError there)
    _op("binary_cross_entropy", F.binary_cross_entropy, _pos(3), _pos(3), empty="nan",
        nan_count="input values must be in"),
    _op("binary_cross_entropy_with_logits", F.binary_cross_entropy_with_logits, _f(3), _pos(3), empty="nan"),
    _op("where", lambda c, a, b: md.where(c, a, b), _mask(3), _f(3), _f(3)),
    _op("where_number", lambda c, a: md.where(c, a, 0), _mask(3), _f(3), nan_count=0),  # masked out
    _op("cat", lambda a, b: md.cat([a, b], 1), _f(3), _f(2)),
    _op("stack", lambda a, b: md.stack([a, b], 1), _f(3), _f(3)),
    _op("add", lambda a, b: a + b, _f(3), _f(3)),
    _op("add_number", lambda a: 2 + a, _f(3)),
    _op("sub", lambda a, b: a - b, _f(3), _w(3)),
    _op("mul", lambda a, b: a * b, _f(3), _f(3)),
    _op("div", lambda a, b: a / b, _f(3), _pos(3)),
    _op("rdiv_number", lambda a: 1.5 / a, _pos(3)),
    _op("pow", lambda a, b: a ** b, _pos(3), _f(3)),
    _op("pow_number", lambda a: a ** 3, _f(3)),
    _op("neg", lambda a: -a, _f(3)),
    _op("exp", lambda a: a.exp(), _f(3)),
    _op("log", lambda a: a.log(), _pos(3)),
    _op("sqrt", lambda a: a.sqrt(), _pos(3)),
    _op("abs", lambda a: a.abs(), _f(3)),
    _op("clamp", lambda a: a.clamp(-0.5, 0.5), _f(3)),
    _op("clip", lambda a: a.clip(-0.5, None), _f(3)),
    _op("matmul", lambda a, b: a @ b, _f(3), _w(3, 2), nan_count=2),
    _op("sum", lambda a: a.sum(), _f(3), empty="zero"),
    _op("sum_axis", lambda a: a.sum(axis=1), _f(3)),
    _op("mean", lambda a: a.mean(), _f(3), empty="nan"),
    _op("mean_axis", lambda a: a.mean(axis=1), _f(3)),
    _op("var_axis", lambda a: a.var(axis=1), _f(3)),
    _op("max", lambda a: a.max(), _f(3), empty="empty"),
    _op("min", lambda a: a.min(), _f(3), empty="empty"),
    _op("max_axis", lambda a: a.max(axis=1), _f(3)),
    _op("max_dim", lambda a: a.max(dim=1).values, _f(3)),
    _op("min_dim", lambda a: a.min(dim=1).values, _f(3)),
    _op("reshape", lambda a: a.reshape(-1, 6), _f(2, 3)),
    _op("transpose", lambda a: a.transpose(1, 0, 2), _f(2, 3)),
    _op("getitem", lambda a: a[:, 1:], _f(3)),
    _op("flatten", lambda a: a.flatten(1), _f(2, 3)),
    _op("unsqueeze", lambda a: a.unsqueeze(1), _f(3)),
    _op("clone", lambda a: a.clone(), _f(3)),
]

LAYERS = [
    _layer("Dense", lambda: nn.Dense(3, 4), _f(3), nan_count=4),
    _layer("Conv2D", lambda: nn.Conv2D(2, 3, 3, padding=1), _f(2, 4, 4), nan_count=18),
    _layer("MaxPool2D", lambda: nn.MaxPool2D(2), _f(2, 4, 4)),
    _layer("AvgPool2D", lambda: nn.AvgPool2D(2), _f(2, 4, 4)),
    _layer("AdaptiveAvgPool2D", lambda: nn.AdaptiveAvgPool2D(1), _f(2, 4, 4)),
    _layer("Embedding", lambda: nn.Embedding(5, 4), _ids(5, 3)),
    _layer("LSTM", lambda: nn.LSTM(3, 4), _f(2, 3), call=lambda m, x: m(x)[0], nan_count=8),
    _layer("LSTM_bidirectional", lambda: nn.LSTM(3, 4, bidirectional=True), _f(2, 3),
           call=lambda m, x: m(x)[0], nan_count=12),
    _layer("GRU", lambda: nn.GRU(3, 4), _f(2, 3), call=lambda m, x: m(x)[0], nan_count=8),
    _layer("GRU_bidirectional", lambda: nn.GRU(3, 4, bidirectional=True), _f(2, 3),
           call=lambda m, x: m(x)[0], nan_count=12),
    _layer("ReLU", nn.ReLU, _f(3)),
    _layer("Sigmoid", nn.Sigmoid, _f(3)),
    _layer("Tanh", nn.Tanh, _f(3)),
    _layer("Softmax", nn.Softmax, _f(3), nan_count=3),
    _layer("LogSoftmax", nn.LogSoftmax, _f(3), nan_count=3),
    _layer("LeakyReLU", nn.LeakyReLU, _f(3)),
    _layer("GELU", nn.GELU, _f(3)),
    _layer("SiLU", nn.SiLU, _f(3)),
    _layer("ELU", nn.ELU, _f(3)),
    _layer("Dropout", nn.Dropout, _f(3), call=_seeded(lambda m, x: m(x))),
    _layer("Flatten", nn.Flatten, _f(2, 3)),
    _layer("Identity", nn.Identity, _f(3)),
    _layer("BatchNorm1D", lambda: nn.BatchNorm1D(3), _f(3), nan_count=2),
    _layer("BatchNorm1D_eval", lambda: nn.BatchNorm1D(3).eval(), _f(3)),
    _layer("BatchNorm2D", lambda: nn.BatchNorm2D(2), _f(2, 3, 3), nan_count=18),
    _layer("LayerNorm", lambda: nn.LayerNorm(3), _f(3), nan_count=3),
    _layer("MultiheadAttention", lambda: nn.MultiheadAttention(4, 2), _f(3, 4),
           call=lambda m, x: m(x, x, x)[0], nan_count=12),
    _layer("TransformerEncoderLayer",
           lambda: nn.TransformerEncoderLayer(4, 2, dim_feedforward=8, dropout=0.0), _f(3, 4),
           nan_count=12),
    _layer("TransformerEncoder",
           lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(4, 2, dim_feedforward=8, dropout=0.0), 2),
           _f(3, 4), nan_count=12),
    _layer("Sequential", lambda: nn.Sequential(nn.Dense(3, 4), nn.ReLU(), nn.Dense(4, 2)), _f(3),
           nan_count=2),
    _layer("MSELoss", nn.MSELoss, _f(3), _f(3), empty="nan"),
    _layer("L1Loss", nn.L1Loss, _f(3), _f(3), empty="nan"),
    _layer("SmoothL1Loss", nn.SmoothL1Loss, _f(3), _f(3), empty="nan"),
    _layer("HuberLoss", nn.HuberLoss, _f(3), _f(3), empty="nan"),
    _layer("CrossEntropyLoss", nn.CrossEntropyLoss, _f(4), _ids(4), empty="nan"),
    _layer("NLLLoss", nn.NLLLoss, _f(4), _ids(4), empty="nan", nan_count=0),  # not the target's
    _layer("BCELoss", nn.BCELoss, _pos(3), _pos(3), empty="nan", nan_count="input values must be in"),
    _layer("BCEWithLogitsLoss", nn.BCEWithLogitsLoss, _f(3), _pos(3), empty="nan"),
]

CASES = OPS + LAYERS
IDS = [c.name for c in CASES]
# public names that are not ops or layers to walk: containers are walked through
# Sequential and TransformerEncoder, the rest take no tensors
NOT_WALKED = {"Module", "Parameter", "ModuleList", "ModuleDict", "init", "summary",
              "Conv2d", "MaxPool2d", "Linear", "BatchNorm1d", "BatchNorm2d", "AvgPool2d",
              "AdaptiveAvgPool2d"}


def test_every_public_op_and_layer_is_walked():
    """A new op or layer gets its case here (a variant is named `<name>_<variant>`)."""
    names = {c.name for c in CASES}
    public = [n for n in F.__all__ + nn.__all__ if n not in NOT_WALKED]
    missing = [n for n in public if n not in names and not any(m.startswith(n + "_") for m in names)]
    assert not missing, missing


# ---- running a case -------------------------------------------------------------------------

@pytest.fixture(params=["numba", "reference", pytest.param("cuda", marks=pytest.mark.gpu)])
def path(request: pytest.FixtureRequest) -> str:
    """Where the kernels run: Numba (the default CPU path), the plain array references, the GPU."""
    if request.param == "cuda" and not md.cuda_available():
        pytest.skip(GPU_REASON)
    before = _route.set_kernels("reference" if request.param == "reference" else "auto")
    request.addfinalizer(lambda: _route.set_kernels(before))
    return request.param


def _arrays(case: Case, n: int, dtype: str, nan: bool = False) -> list[np.ndarray]:
    rng = np.random.default_rng(sum(map(ord, case.name)))
    arrays = [make(n, rng) for make in case.inputs]
    arrays = [a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays]
    if nan:
        first = next(a for i, a in enumerate(arrays) if a.dtype.kind == "f" and i not in case.const)
        first.reshape(-1)[NAN_AT] = np.nan
    return arrays


def _differentiable(case: Case, arrays: list[np.ndarray]) -> list[int]:
    return [i for i, a in enumerate(arrays) if a.dtype.kind == "f" and i not in case.const]


def _strided(a: np.ndarray) -> np.ndarray:
    """The same values in a non-contiguous view (every other element of a buffer)."""
    buf = np.zeros(a.shape + (2,), a.dtype)
    buf[..., 0] = a
    view = buf[..., 0]
    assert a.size <= 1 or not view.flags.c_contiguous
    return view


class Run:
    """One forward and backward of a case: the output, and the gradients by input index and
    by parameter name (None where none was asked)."""

    def __init__(self, case: Case, arrays: list[np.ndarray], dtype: str, device: str,
                 grad: set[Any] | None = None, contiguous: bool = True, weights: Any = None) -> None:
        md.manual_seed(0)  # every run of a case: the same parameters
        module = case.module() if case.module else None
        if module is not None:
            module.to(device, dtype)
            for name, p in module.named_parameters():
                p.requires_grad = grad is None or name in grad
        grad_inputs = set(_differentiable(case, arrays))
        tensors = []
        for i, a in enumerate(arrays):
            data = a if contiguous or a.dtype.kind != "f" else _strided(a)
            t = md.tensor(data, device=device)
            t.requires_grad = i in grad_inputs and (grad is None or i in grad)
            tensors.append(t)
        self.out = case.fn(module, *tensors)
        self.grads: dict[Any, Any] = {}
        if self.out.requires_grad:
            w = weights if weights is not None else _weights(self.out.shape, dtype)
            (self.out * md.tensor(w, device=device)).sum().backward()
        for i in grad_inputs:
            self.grads[i] = tensors[i].grad
        if module is not None:
            for name, p in module.named_parameters():
                self.grads[name] = p.grad


def _weights(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Fixed random weights for the output: sum(out * w) has a gradient through softmax too."""
    return np.random.default_rng(7).standard_normal(shape).astype(dtype)


def _host(t: Any) -> np.ndarray:
    return t.numpy() if isinstance(t, md.Tensor) else np.asarray(t)


def _device(path: str) -> str:
    return "cuda" if path == "cuda" else "cpu"


def _tol(dtype: str) -> dict[str, float]:
    return {"rtol": 1e-9, "atol": 1e-12} if dtype == "float64" else {"rtol": 1e-5, "atol": 1e-6}


def _param_names(case: Case) -> list[str]:
    return [name for name, _ in case.module().named_parameters()] if case.module else []


# ---- float32 and float64, contiguous or not -------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_dtype_kept_and_non_contiguous_input_gives_the_same(case, dtype, path):
    arrays = _arrays(case, 2, dtype)
    plain = Run(case, arrays, dtype, _device(path))
    strided = Run(case, arrays, dtype, _device(path), contiguous=False)
    assert plain.out.dtype == dtype, f"{case.name}: {dtype} in, {plain.out.dtype} out"
    np.testing.assert_allclose(_host(strided.out), _host(plain.out), **_tol(dtype))
    assert plain.grads and all(g is not None for g in plain.grads.values())
    for key, g in plain.grads.items():
        assert g.dtype == dtype, f"{case.name}: the gradient of {key} is {g.dtype}"
        np.testing.assert_allclose(_host(strided.grads[key]), _host(g), **_tol(dtype))


# ---- every subset of inputs and parameters requiring grad ---------------------------------

def _subsets(keys: list[Any]) -> list[set[Any]]:
    """Every subset for up to 4 keys; beyond, none, all, each alone and each left out."""
    if len(keys) <= 4:
        return [set(s) for r in range(len(keys) + 1) for s in itertools.combinations(keys, r)]
    return ([set(), set(keys)] + [{k} for k in keys] + [set(keys) - {k} for k in keys])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_every_requires_grad_subset(case, path):
    """The gradients asked for equal those of the all-grad run; the others stay None."""
    arrays = _arrays(case, 2, "float64")
    device = _device(path)
    full = Run(case, arrays, "float64", device)
    keys = _differentiable(case, arrays) + _param_names(case)
    for wanted in _subsets(keys):
        run = Run(case, arrays, "float64", device, grad=wanted)
        assert run.out.requires_grad == bool(wanted), (case.name, wanted)
        np.testing.assert_allclose(_host(run.out), _host(full.out), **_tol("float64"))
        for key in keys:
            if key in wanted:
                assert run.grads[key] is not None, (case.name, wanted, key)
                np.testing.assert_allclose(_host(run.grads[key]), _host(full.grads[key]),
                                           **_tol("float64"), err_msg=f"{case.name} {wanted} {key}")
            else:
                assert run.grads[key] is None, (case.name, wanted, key)


# ---- a zero-size batch ------------------------------------------------------------------------

def _batch_axes(case: Case, device: str) -> tuple[int, ...]:
    """The output shape with every axis that grows with the batch set to 0."""
    two = Run(case, _arrays(case, 2, "float64"), "float64", device, grad=set()).out.shape
    three = Run(case, _arrays(case, 3, "float64"), "float64", device, grad=set()).out.shape
    return tuple(0 if a != b else a for a, b in zip(two, three))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_zero_size_batch_forward_and_backward(case, path):
    device = _device(path)
    arrays = _arrays(case, 0, "float64")
    if case.empty not in ("batch", "nan", "zero"):
        with pytest.raises(ValueError, match=case.empty if case.empty != "empty" else "empty"):
            Run(case, arrays, "float64", device)
        return
    run = Run(case, arrays, "float64", device)
    out = _host(run.out)
    if case.empty == "batch":
        assert out.shape == _batch_axes(case, device), case.name
    else:
        assert out.shape == () and (np.isnan(out) if case.empty == "nan" else out == 0), (case.name, out)
    for key, g in run.grads.items():
        assert g is not None, (case.name, key)
        g = _host(g)
        if isinstance(key, str):  # a parameter: nothing flowed into it
            assert (g == 0).all(), (case.name, key)
        else:
            assert g.shape == arrays[key].shape, (case.name, key)


# ---- NaN in, NaN out ----------------------------------------------------------------------------

FLOAT_INPUT = [c for c in CASES if _differentiable(c, _arrays(c, 1, "float64"))]


@pytest.mark.parametrize("case", FLOAT_INPUT, ids=[c.name for c in FLOAT_INPUT])
def test_nan_in_the_input_propagates(case, path):
    """With one NaN in the first floating input, as many outputs are NaN as in PyTorch."""
    arrays = _arrays(case, 2, "float64", nan=True)
    expected = case.nan_count
    if isinstance(expected, str) and path != "cuda":
        with pytest.raises(ValueError, match=expected):
            Run(case, arrays, "float64", _device(path), grad=set())
        return
    if isinstance(expected, str):  # a value check on the GPU would cost a host sync: NaN out
        expected = 1
    run = Run(case, arrays, "float64", _device(path), grad=set())
    count = int(np.isnan(_host(run.out)).sum())
    assert count == expected, f"{case.name}: {count} NaN outputs, PyTorch gives {expected}"
