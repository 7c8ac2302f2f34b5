"""The op base class and the backward walk: accumulation, grad=, retain_graph, freeing,
deep graphs and memory."""
from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import minidl as md
import minidl.functional as F
from minidl.autograd.function import Function
from minidl.backend import array_module
from tests.helpers import assert_close


def t64(data, backend, requires_grad=True):
    return md.tensor(np.asarray(data, dtype=np.float64), requires_grad=requires_grad, device=backend)


# ---- accumulation ------------------------------------------------------------------------

def test_gradients_accumulate_across_backward_calls_until_zeroed(backend):
    x = t64([1.0, 2.0], backend)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    assert_close(x.grad, [3 + 2.0, 3 + 4.0])
    x.zero_grad()
    assert x.grad is None
    (x * 3).sum().backward()
    assert_close(x.grad, [3.0, 3.0])


def test_reused_tensor_accumulates(backend):
    x = t64([1.0, -2.0, 3.0], backend)
    (x * x).sum().backward()
    assert_close(x.grad, [2.0, -4.0, 6.0])
    x.grad = None
    # x feeds two branches that meet again: d/dx (2x * 3 + exp(2x)) = 6 + 2 exp(2x)
    y = x * 2
    (y * 3 + y.exp()).sum().backward()
    assert_close(x.grad, 6 + 2 * np.exp(2 * np.array([1.0, -2.0, 3.0])))


def test_add_of_a_tensor_to_itself(backend):
    x = t64([1.0, 2.0], backend)
    (x + x).sum().backward()
    assert_close(x.grad, [2.0, 2.0])


def test_leaf_grads_are_owned_writable_arrays(backend):
    a, b = t64([[1.0, 2.0]], backend), t64([[3.0, 4.0]], backend)
    (a + b).sum().backward()  # Add hands one (broadcast) array to both inputs
    assert a.grad.data is not b.grad.data
    a.grad.data[...] = 0.0  # writable, and writing it leaves b.grad alone
    assert_close(b.grad, [[1.0, 1.0]])


class Passes(Function):
    """Hands gy on unchanged: its gradient is an array the caller still holds."""

    def forward(self, x):
        return x * 1

    def backward(self, gy):
        return gy


def test_a_leafs_first_gradient_is_the_ops_fresh_array_itself(backend, monkeypatch):
    from minidl.ops.linear import Linear  # noqa: PLC0415

    returned = []
    plain = Linear.backward
    monkeypatch.setattr(Linear, "backward", lambda self, gy: returned.append(plain(self, gy)) or returned[-1])
    x = md.tensor(np.ones((3, 4)), device=backend)
    w, b = t64(np.ones((4, 2)), backend), t64([0.0, 0.0], backend)
    F.linear(x, w, b).sum().backward()
    assert w.grad.data is returned[0][1] and b.grad.data is returned[0][2]  # no copy
    assert_close(w.grad, np.full((4, 2), 3.0))


def test_a_gradient_the_op_may_share_is_copied_for_the_leaf(backend):
    x = t64([1.0, 2.0], backend)
    g = array_module(x.data).asarray([5.0, 6.0])
    Passes()(x).backward(g)  # backward returns the caller's own array
    assert x.grad.data is not g
    g[...] = 0.0
    assert_close(x.grad, [5.0, 6.0])


def test_kept_gradients_survive_later_steps_of_a_model(backend):
    """.grad arrays taken without a copy may be workspace arrays: one kept by the caller is
    never handed out again."""
    md.manual_seed(0)
    model = md.nn.Sequential(md.nn.Dense(256, 256), md.nn.ReLU(), md.nn.Dense(256, 4)).to(backend)
    x = md.randn(300, 256).to(backend).requires_grad_()  # its gradient: a workspace array
    model(x).sum().backward()
    kept = [p.grad.data for p in model.parameters()] + [x.grad.data]
    first = [g.copy() for g in kept]
    for _ in range(3):
        model.zero_grad()
        x.grad = None
        (model(x * 2) ** 2).sum().backward()
    for g, before in zip(kept, first):
        assert_close(g, before)


def test_backward_never_writes_into_the_callers_gradient(backend):
    x = t64([[-1.0, 2.0, -3.0, 4.0]], backend)
    g = array_module(x.data).asarray([[5.0, 6.0, 7.0, 8.0]])
    F.relu(x).backward(g)
    assert_close(g, [[5.0, 6.0, 7.0, 8.0]])
    assert_close(x.grad, [[0.0, 6.0, 0.0, 8.0]])
    conv = md.nn.Sequential(md.nn.Conv2D(1, 2, 2), md.nn.ReLU()).to(backend).astype("float64")
    y = conv(md.randn(2, 1, 3, 3).to(backend).astype("float64"))
    g = md.randn(*y.shape).to(backend).astype("float64").data
    kept = g.copy()
    y.backward(g)  # the fused Conv2D + ReLU masks a gradient it does not own: a copy
    assert_close(g, kept)


def test_relu_masks_in_place_a_gradient_nothing_else_holds(backend, monkeypatch):
    from minidl.kernels import activation as K  # noqa: PLC0415

    outs = []
    plain, from_output, with_bias = K.relu_backward, K.relu_backward_from_output, K.relu_bias_backward
    monkeypatch.setattr(K, "relu_backward", lambda gy, saved, out=None: outs.append(out is gy) or plain(gy, saved, out))
    monkeypatch.setattr(K, "relu_backward_from_output",
                        lambda gy, y, out=None: outs.append(out is gy) or from_output(gy, y, out))
    monkeypatch.setattr(K, "relu_bias_backward",  # the fused Dense's, with its bias gradient
                        lambda gy, y, out=None: outs.append(out is gy) or with_bias(gy, y, out))
    first = md.nn.Dense(3, 4).to(backend).astype("float64")
    second = md.nn.Dense(4, 2).to(backend).astype("float64")
    x = md.randn(5, 3).to(backend).astype("float64")
    second(F.relu(first(x))).sum().backward()
    assert outs == [True]  # the ReLU op masks the Dense's input gradient, made for it alone
    fused = md.nn.Sequential(first, md.nn.ReLU(), second)
    fused(x).sum().backward()
    assert outs == [True, True]  # so does the fused Dense + ReLU
    assert md.gradcheck(lambda t: fused(t), x.requires_grad_())


def test_intermediate_tensors_get_no_grad(backend):
    x = t64([1.0, 2.0], backend)
    y = x * 2
    (y * y).sum().backward()
    assert y.grad is None and y.requires_grad and not y.is_leaf
    assert_close(x.grad, [8.0, 16.0])


# ---- backward arguments --------------------------------------------------------------------

def test_backward_with_grad_tensor_or_array(backend):
    x = t64([1.0, 2.0, 3.0], backend)
    (x * 2).backward(md.tensor([1.0, 0.5, -1.0], dtype="float64", device=backend))
    assert_close(x.grad, [2.0, 1.0, -2.0])
    x.grad = None
    xp = np if backend == "numpy" else __import__("cupy")
    (x * 2).backward(xp.asarray([1.0, 1.0, 0.0]))
    assert_close(x.grad, [2.0, 2.0, 0.0])
    if backend == "numpy":  # a nested list is host data: CPU outputs only
        x.grad = None
        (x * 2).backward(grad=[0.0, 1.0, 0.0])
        assert_close(x.grad, [0.0, 2.0, 0.0])


def test_backward_grad_is_cast_to_output_dtype(backend):
    x = md.tensor([1.0, 2.0], requires_grad=True, device=backend)  # float32
    (x * 2).backward(np.array([1, 1]) if backend == "numpy" else md.tensor([1, 1], device=backend))
    assert x.grad.dtype == md.float32
    assert_close(x.grad, [2.0, 2.0])


def test_non_scalar_backward_without_grad_is_a_value_error(backend):
    x = t64([1.0, 2.0], backend)
    with pytest.raises(ValueError, match=r"\(2,\)"):
        (x * 2).backward()
    with pytest.raises(ValueError, match="shape"):
        (x * 2).backward(md.ones(3, device=backend))


def test_single_element_non_0d_backward_without_grad(backend):
    x = t64([[2.0]], backend)
    (x * x).backward()
    assert_close(x.grad, [[4.0]])


def test_backward_on_tensor_without_grad_raises(backend):
    with pytest.raises(RuntimeError):
        md.tensor([1.0], device=backend).sum().backward()


def test_backward_on_a_leaf_accumulates_into_itself(backend):
    x = t64([1.0, 2.0], backend)
    x.backward(np.array([3.0, 4.0]) if backend == "numpy" else md.tensor([3.0, 4.0], device=backend))
    assert_close(x.grad, [3.0, 4.0])


# ---- graph lifetime ------------------------------------------------------------------------

def test_retain_graph_allows_a_second_backward(backend):
    x = t64([1.0, 2.0], backend)
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    assert_close(x.grad, [4.0, 8.0])


def test_second_backward_through_a_freed_graph_raises(backend):
    x = t64([1.0, 2.0], backend)
    loss = (x.exp() * 2).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        loss.backward()
    # also when a new op is built on top of a freed part
    y = x * 3
    y.sum().backward()
    with pytest.raises(RuntimeError, match="second time"):
        (y * 2).sum().backward()


def test_graph_is_freed_after_backward(backend):
    x = t64(np.ones((2, 2)), backend)
    h = x @ x
    ref_h, ref_fn = weakref.ref(h), weakref.ref(h.creator)
    loss = F.tanh(h).sum()
    del h
    assert ref_h() is not None  # held by the graph
    loss.backward()
    assert ref_h() is None and ref_fn() is None  # dropped by backward while loss lives on
    assert loss.requires_grad


def test_dropped_graph_dies_without_the_cycle_collector(backend):
    x = t64(np.ones((3, 3)), backend)
    gc.disable()
    try:
        h = x @ x
        y = (h.exp() * 2).sum()
        refs = [weakref.ref(h), weakref.ref(h.creator), weakref.ref(y), weakref.ref(y.creator)]
        del h, y
        assert all(r() is None for r in refs)  # no reference cycles: refcounting frees it
    finally:
        gc.enable()


def _live_tensors() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, md.Tensor))


def test_many_iterations_leave_no_growing_set_of_tensors(backend):
    md.manual_seed(0)
    w = md.randn(4, 3, dtype="float64", requires_grad=True, device=backend)
    x = md.randn(5, 4, dtype="float64", device=backend)

    def step(i):
        loss = (F.tanh(x @ w) * 2 + w.sum()).mean()
        if i % 2:
            loss.backward()
        w.grad = None

    for i in range(10):
        step(i)
    before = _live_tensors()
    for i in range(1000):
        step(i)
    assert _live_tensors() - before <= 0


# ---- deep graphs ---------------------------------------------------------------------------

def test_2000_step_recurrence_backpropagates(backend):
    md.manual_seed(0)
    w = (md.randn(4, 4, dtype="float64", device=backend) * 0.3).detach().requires_grad_()
    xs = md.randn(2000, 1, 4, dtype="float64", device=backend)
    h = md.zeros(1, 4, dtype="float64", device=backend)
    for t in range(2000):
        h = F.tanh(h @ w + xs[t])
    h.sum().backward()
    assert w.grad.shape == (4, 4) and np.isfinite(w.grad.numpy()).all()
    assert np.abs(w.grad.numpy()).sum() > 0


def test_short_recurrence_gradcheck(backend):
    rng = np.random.default_rng(0)
    w = t64(rng.normal(size=(3, 3)) * 0.5, backend)
    xs = t64(rng.normal(size=(6, 1, 3)), backend)

    def run(w, xs):
        h = md.zeros(1, 3, dtype="float64", device=backend)
        for t in range(xs.shape[0]):
            h = F.tanh(h @ w + xs[t])
        return h
    assert md.gradcheck(run, w, xs)


def test_10000_step_chain(backend):
    x = t64([1.0], backend)
    y = x
    for _ in range(10000):
        y = y * 1.0001
    y.backward()
    assert_close(x.grad, [1.0001 ** 10000], rtol=1e-9)


def test_dropping_a_deep_graph_without_backward(backend):
    x = t64([1.0], backend)
    y = x
    for _ in range(10000):
        y = y + 1.0
    ref = weakref.ref(y.creator)
    del y  # must not overflow the C stack while freeing
    assert ref() is None


# ---- custom ops ------------------------------------------------------------------------------

class Cube(Function):
    def forward(self, x):
        self.x = x
        return x ** 3

    def backward(self, gy):
        return 3 * gy * self.x ** 2


class SplitHalves(Function):
    """A two-output op: the first and second half of the last axis."""

    def forward(self, x):
        n = x.shape[-1] // 2
        return x[..., :n], x[..., n:]

    def backward(self, g1, g2):
        return array_module(g1).concatenate([g1, g2], axis=-1)


class SeesNeeds(Function):
    """Records needs_input_grad as set before forward."""

    seen: list = []

    def forward(self, a, b):
        self.seen.append(self.needs_input_grad)
        return a * b

    def backward(self, gy):
        return None, gy


def test_custom_function_gradcheck(backend):
    x = t64([0.5, -1.0, 2.0], backend)
    assert md.gradcheck(lambda t: Cube()(t), x)


def test_multi_output_function_and_unused_output(backend):
    x = t64(np.arange(4.0).reshape(1, 4), backend)
    a, b = SplitHalves()(x)
    assert a.shape == b.shape == (1, 2) and a.creator is b.creator
    (a * 10).sum().backward()  # b unused: its gradient is zero
    assert_close(x.grad, [[10.0, 10.0, 0.0, 0.0]])
    x.grad = None
    a, b = SplitHalves()(x)
    (a * 2 + b * 3).sum().backward()
    assert_close(x.grad, [[2.0, 2.0, 3.0, 3.0]])
    assert md.gradcheck(lambda t: SplitHalves()(t), x)


def test_needs_input_grad_and_none_gradients(backend):
    a, b = t64([1.0], backend, requires_grad=False), t64([2.0], backend)
    SeesNeeds.seen.clear()
    SeesNeeds()(a, b).sum().backward()
    with md.no_grad():
        SeesNeeds()(a, b)
    assert SeesNeeds.seen == [(False, True), (False, False)]
    assert a.grad is None
    assert_close(b.grad, [1.0])


def test_python_number_constants_lift_to_the_tensor_dtype(backend):
    x = md.tensor([1.0, 2.0], requires_grad=True, device=backend)
    for y in (x + 1, 1 + x, x * 0.5, 2 - x, x / 3, 1.5 ** x, x ** 2):
        assert y.dtype == md.float32
    y = md.tensor([1.0], dtype="float64", device=backend) + 1.0
    assert y.dtype == md.float64


def test_a_raw_array_operand_on_another_device_is_an_error_not_a_copy(monkeypatch):
    """An ndarray operand is never moved silently: its device is checked like a Tensor's."""
    from minidl import backend as B

    x = md.tensor([1.0, 2.0])
    other = np.array([3.0, 4.0], dtype=np.float32)
    real = B.device_of
    monkeypatch.setattr(B, "device_of", lambda a: "cuda" if a is other else real(a))
    with pytest.raises(md.DeviceMismatchError, match="Add"):
        x + other


@pytest.mark.parametrize("scalar", [np.float32(2.0), np.float64(2.0), np.int64(2), np.int32(2)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_numpy_scalars_act_as_python_numbers(backend, scalar, dtype):
    # as torch: a NumPy scalar neither moves the result off the tensor's device nor upcasts it
    x = md.tensor([1.0, -2.0], dtype=dtype, requires_grad=True, device=backend)
    for y in (x * scalar, scalar * x, x + scalar, x - scalar, x / scalar, x ** scalar):
        assert y.device == x.device and y.dtype == np.dtype(dtype)
    (x * scalar).sum().backward()
    assert_close(x.grad, [2.0, 2.0])
    assert (x > np.float32(0)).device == x.device


@pytest.mark.parametrize("grad", [1.0, 2, np.float64(1.0), np.float32(1.0), np.array(1.0)])
def test_backward_takes_a_number_on_any_device(backend, grad):
    x = md.tensor([1.0, 2.0], dtype="float64", requires_grad=True, device=backend)
    (x * 3).sum().backward(grad)
    assert x.grad.device == x.device
    assert_close(x.grad, [3.0 * float(grad)] * 2)


def test_backward_number_for_a_non_scalar_output_is_a_shape_error(backend):
    x = md.tensor([1.0, 2.0], dtype="float64", requires_grad=True, device=backend)
    with pytest.raises(ValueError, match=r"grad is a single number, expected shape \(2,\)"):
        (x * 3).backward(2.0)


class SeesGrads(Function):
    """SplitHalves that records the output gradients it receives and `retained`."""

    materialize_grads = False
    seen: list = []

    def forward(self, x):
        n = x.shape[-1] // 2
        return x[..., :n] * 1.0, x[..., n:] * 1.0

    def backward(self, g1, g2):
        self.seen.append((g1, g2, self.retained))
        xp = array_module(g1 if g1 is not None else g2)
        zeros = xp.zeros_like(g1 if g1 is not None else g2)
        return xp.concatenate([zeros if g1 is None else g1, zeros if g2 is None else g2], axis=-1)


def test_unused_output_gradient_is_none_where_the_op_does_not_materialize_it():
    """PyTorch's set_materialize_grads(False): no zeros made for an output nobody used."""
    SeesGrads.seen = []
    x = t64([1.0, 2.0, 3.0, 4.0], "numpy")
    a, _ = SeesGrads()(x)
    (a * 2.0).sum().backward()
    (g1, g2, _), = SeesGrads.seen
    assert g2 is None
    assert_close(g1, [2.0, 2.0])
    assert_close(x.grad, [2.0, 2.0, 0.0, 0.0])


def test_backward_is_told_whether_the_graph_is_kept():
    SeesGrads.seen = []
    x = t64([1.0, 2.0], "numpy")
    a, b = SeesGrads()(x)
    loss = (a + b).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    assert [seen[2] for seen in SeesGrads.seen] == [True, False]
