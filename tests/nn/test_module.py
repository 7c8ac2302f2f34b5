"""The module system: registration, traversal, modes, dtypes, state dicts, Sequential, repr."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import minidl as md
from minidl import nn
from tests.conftest import GPU_REASON


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(md.ones(3))
        self.body = nn.Sequential(nn.Dense(3, 4), nn.ReLU(), nn.Dense(4, 3, bias=False))
        self.shift = nn.Parameter(md.zeros(3))

    def forward(self, x):
        return self.body(x * self.scale) + self.shift


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = Block()
        self.drop = nn.Dropout(0.5)
        self.head = nn.Dense(3, 2)

    def forward(self, x):
        return self.head(self.drop(self.block(x)))


NAMES = ["block.scale", "block.shift", "block.body.0.weight", "block.body.0.bias",
         "block.body.2.weight", "head.weight", "head.bias"]


def test_named_parameters_dotted_in_registration_order():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == NAMES
    assert list(net.parameters()) == [p for _, p in net.named_parameters()]
    assert net.num_parameters() == 3 + 3 + 12 + 4 + 12 + 6 + 2


def test_children_and_reassignment():
    net = Net()
    assert list(net.children()) == [net.block, net.drop, net.head]
    assert [n for n, _ in net.named_children()] == ["block", "drop", "head"]
    net.head = None  # replacing a child with something else unregisters it
    assert [n for n, _ in net.named_children()] == ["block", "drop"]
    net.block.scale = md.ones(3)  # a plain Tensor is not a Parameter
    assert "block.scale" not in dict(net.named_parameters())


def test_shared_parameter_listed_once():
    a = nn.Dense(2, 2)
    model = nn.Sequential(a, a)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]


def test_parameter():
    p = nn.Parameter(md.zeros(2))
    assert p.requires_grad and isinstance(p, md.Tensor)
    assert repr(p).startswith("Parameter containing:\ntensor(")
    q = nn.Parameter(np.ones(3))
    assert q.shape == (3,)


def test_assignment_before_init_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self) -> None:
            self.w = nn.Parameter(md.zeros(1))

    with pytest.raises(AttributeError, match=r"Bad: call super\(\).__init__\(\)"):
        Bad()


def test_train_eval_propagate():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    assert net.train() is net
    assert all(m.training for m in net.modules())


def test_zero_grad():
    net = Net()
    net(md.ones(2, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_astype_and_to():
    net = Net()
    net(md.ones(1, 3)).sum().backward()
    assert net.astype("float64") is net
    assert all(p.dtype == np.float64 and p.grad is None for p in net.parameters())
    assert net(md.ones(1, 3, dtype="float64")).dtype == np.float64
    assert net.to("cpu") is net and net.device == "cpu"


def test_to_backend(backend):
    net = Net().to(backend)
    assert {p.device for p in net.parameters()} == {"cpu" if backend == "numpy" else "cuda"}
    assert isinstance(net.state_dict()["head.bias"], np.ndarray)


def test_state_dict_is_an_ordered_copy():
    net = Net()
    state = net.state_dict()
    assert isinstance(state, OrderedDict)
    assert list(state) == NAMES
    assert all(isinstance(v, np.ndarray) for v in state.values())
    state["head.bias"][:] = 99
    assert not np.any(net.head.bias.numpy() == 99)


def test_state_dict_round_trip():
    md.manual_seed(0)
    a = Net().eval()
    md.manual_seed(1)
    b = Net().eval()
    x = md.randn(4, 3)
    assert not np.allclose(a(x).numpy(), b(x).numpy())
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())


def test_load_casts_to_parameter_dtype():
    net = Net()
    state = {k: v.astype(np.float64) for k, v in net.state_dict().items()}
    state["head.bias"] = [1.0, 2.0]  # plain lists and Tensors are accepted too
    state["head.weight"] = md.tensor(state["head.weight"])
    net.load_state_dict(state)
    assert all(p.dtype == np.float32 for p in net.parameters())
    np.testing.assert_array_equal(net.head.bias.numpy(), [1.0, 2.0])


def _snapshot(net):
    return [p.numpy().copy() for p in net.parameters()], [p.data for p in net.parameters()]


def _assert_unchanged(net, snap):
    values, arrays = snap
    for p, v, arr in zip(net.parameters(), values, arrays):
        assert p.data is arr
        np.testing.assert_array_equal(p.numpy(), v)


def test_failed_load_leaves_every_parameter_unchanged():
    net = Net()
    snap = _snapshot(net)
    good = {k: v + 1 for k, v in net.state_dict().items()}

    missing = dict(good)
    del missing["head.bias"]
    with pytest.raises(KeyError, match=r"missing keys \['head.bias'\]"):
        net.load_state_dict(missing)
    _assert_unchanged(net, snap)

    extra = dict(good, **{"head.scale": np.ones(2)})
    with pytest.raises(KeyError, match=r"unexpected keys \['head.scale'\]"):
        net.load_state_dict(extra)
    _assert_unchanged(net, snap)

    # the bad key comes last: every earlier (valid) key must not have been applied
    bad_shape = dict(good, **{"head.bias": np.ones(5)})
    with pytest.raises(ValueError, match=r"'head.bias' has shape \(5,\) in the state dict but "
                                         r"\(2,\) in the model"):
        net.load_state_dict(bad_shape)
    _assert_unchanged(net, snap)
    with pytest.raises(ValueError, match="'head.bias'"):
        net.load_state_dict(bad_shape, strict=False)  # shapes are checked even when not strict
    _assert_unchanged(net, snap)

    bad_value = dict(good, **{"head.bias": np.array(["a", "b"])})
    with pytest.raises(ValueError, match="'head.bias' cannot be converted to float32"):
        net.load_state_dict(bad_value)
    _assert_unchanged(net, snap)


def test_load_not_strict():
    net = Net()
    before = net.head.bias.numpy().copy()
    partial = {"head.weight": np.zeros((3, 2)), "other": np.ones(1)}
    result = net.load_state_dict(partial, strict=False)
    assert result.missing_keys == [n for n in NAMES if n != "head.weight"]
    assert result.unexpected_keys == ["other"]
    np.testing.assert_array_equal(net.head.weight.numpy(), np.zeros((3, 2)))
    np.testing.assert_array_equal(net.head.bias.numpy(), before)


def test_sequential_indexing_len_iter_append():
    layers = [nn.Dense(2, 3), nn.ReLU(), nn.Dense(3, 1)]
    model = nn.Sequential(*layers)
    assert len(model) == 3
    assert [n for n, _ in model.named_children()] == ["0", "1", "2"]
    assert model[0] is layers[0] and model[-1] is layers[2]
    assert list(model) == layers
    sub = model[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == layers[1:]
    model.append(nn.Sigmoid())
    assert len(model) == 4 and [n for n, _ in model.named_children()][-1] == "3"
    out = model(md.ones(5, 2))
    assert out.shape == (5, 1) and np.all((out.numpy() > 0) & (out.numpy() < 1))
    with pytest.raises(TypeError, match="Sequential: argument 1 is a int, not a Module"):
        nn.Sequential(nn.ReLU(), 3)


def test_repr_shows_layers_and_shapes():
    net = Net()
    assert repr(net) == (
        "Net(\n"
        "  (block): Block(scale=(3,), shift=(3,)\n"
        "    (body): Sequential(\n"
        "      (0): Dense(in_features=3, out_features=4, bias=True)\n"
        "      (1): ReLU()\n"
        "      (2): Dense(in_features=4, out_features=3, bias=False)\n"
        "    )\n"
        "  )\n"
        "  (drop): Dropout(p=0.5)\n"
        "  (head): Dense(in_features=3, out_features=2, bias=True)\n"
        ")")


# ---- Version 2: buffers, PyTorch's state_dict order, apply, to/cuda/cpu/float/double ----------

class Inner(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("count", md.zeros((), dtype="int64"))
        self.lin = nn.Dense(2, 2)
        self.register_buffer("stats", md.zeros(2))
        self.register_buffer("scratch", md.zeros(2), persistent=False)


class Outer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", np.zeros(3, dtype=np.float32))
        self.inner = Inner()
        self.scale = nn.Parameter(md.ones(3))
        self.heads = nn.ModuleList([nn.Dense(3, 1), nn.Identity()])
        self.named = nn.ModuleDict({"b": nn.Dense(1, 1), "a": nn.Dense(1, 1)})


def test_state_dict_order_is_pytorchs():
    m = Outer()
    # the same structure in torch 2.13 (nn.Linear for Dense, register_buffer) gives these keys
    assert list(m.state_dict()) == [
        "scale", "mean", "inner.count", "inner.stats", "inner.lin.weight", "inner.lin.bias",
        "heads.0.weight", "heads.0.bias", "named.b.weight", "named.b.bias", "named.a.weight",
        "named.a.bias"]
    assert [n for n, _ in m.named_parameters()] == [
        "scale", "inner.lin.weight", "inner.lin.bias", "heads.0.weight", "heads.0.bias",
        "named.b.weight", "named.b.bias", "named.a.weight", "named.a.bias"]
    assert [n for n, _ in m.named_buffers()] == ["mean", "inner.count", "inner.stats", "inner.scratch"]
    assert [n for n, _ in m.named_modules()] == [
        "", "inner", "inner.lin", "heads", "heads.0", "heads.1", "named", "named.b", "named.a"]


def test_buffers_are_tensors_not_parameters():
    m = Outer()
    assert all(isinstance(b, md.Tensor) and not b.requires_grad for b in m.buffers())
    assert not any(isinstance(b, nn.Parameter) for b in m.buffers())
    assert all(id(b) not in {id(p) for p in m.parameters()} for b in m.buffers())
    assert m.inner.count.dtype == np.int64 and m.mean.shape == (3,)
    assert m.num_parameters() == 3 + 6 + 4 + 2 + 2


def test_assigning_to_a_buffer_name_sets_the_buffer():
    m = Inner()
    m.stats = np.array([1.0, 2.0], dtype=np.float32)
    assert isinstance(m.stats, md.Tensor)
    np.testing.assert_array_equal(m.state_dict()["stats"], [1.0, 2.0])
    m.stats = None
    assert "stats" not in m.state_dict() and [n for n, _ in m.named_buffers()] == ["count", "scratch"]


def test_register_buffer_errors():
    m = nn.Dense(2, 2)
    with pytest.raises(KeyError, match="attribute 'weight' already exists"):
        m.register_buffer("weight", md.zeros(2))
    with pytest.raises(KeyError, match=r"contain no '\.'"):
        m.register_buffer("a.b", md.zeros(2))
    with pytest.raises(TypeError, match="buffer 'p' cannot be a Parameter"):
        m.register_buffer("p", nn.Parameter(md.zeros(2)))


def test_buffers_round_trip_through_state_dict_and_fail_atomically():
    a, b = Outer(), Outer()
    a.inner.count = md.tensor(7)
    a.mean = md.tensor([1.0, 2.0, 3.0])
    b.load_state_dict(a.state_dict())
    assert b.inner.count.item() == 7 and b.inner.count.dtype == np.int64
    np.testing.assert_array_equal(b.mean.numpy(), [1, 2, 3])
    state = a.state_dict()
    state["inner.stats"] = np.ones(5)
    before = b.inner.count.data
    with pytest.raises(ValueError, match="'inner.stats' has shape"):
        b.load_state_dict(dict(state, **{"inner.count": np.array(9)}))
    assert b.inner.count.data is before and b.inner.count.item() == 7
    with pytest.raises(KeyError, match=r"unexpected keys \['inner.scratch'\]"):
        b.load_state_dict(dict(a.state_dict(), **{"inner.scratch": np.zeros(2)}))


def test_apply_visits_children_first_and_returns_the_module():
    m = Outer()
    order = []
    assert m.apply(lambda mod: order.append(type(mod).__name__)) is m
    # torch 2.13's order for the same structure
    assert order == ["Dense", "Inner", "Dense", "Identity", "ModuleList", "Dense", "Dense",
                     "ModuleDict", "Outer"]


def test_apply_initialises_weights():
    def init(mod):
        if isinstance(mod, nn.Dense):
            nn.init.zeros_(mod.weight)

    m = nn.Sequential(nn.Dense(2, 3), nn.ReLU(), nn.Dense(3, 1)).apply(init)
    assert all(not np.any(p.numpy()) for n, p in m.named_parameters() if n.endswith("weight"))


def test_double_and_float_cast_floating_state_only():
    m = Outer()
    assert m.double() is m
    assert all(p.dtype == np.float64 for p in m.parameters())
    assert {n: b.dtype for n, b in m.named_buffers()} == {
        "mean": np.float64, "inner.count": np.int64, "inner.stats": np.float64,
        "inner.scratch": np.float64}  # torch 2.13: the int64 buffer stays int64
    assert m.float() is m and m.mean.dtype == np.float32 and m.inner.count.dtype == np.int64


@pytest.mark.parametrize("dtype", ["int64", np.int32, "bool", "complex128"])
def test_astype_refuses_non_float_dtypes_and_changes_nothing(dtype):
    net = Net()
    before = _snapshot(net)
    for cast in (net.astype, net.to):
        with pytest.raises(TypeError, match="can only be cast to a floating dtype"):
            cast(dtype)
    _assert_unchanged(net, before)


def test_to_takes_device_dtype_or_both():
    net = Net()
    w = net.head.weight
    assert net.to("float64") is net and w.dtype == np.float64 and net.head.weight is w
    assert net.to("cpu", md.float32) is net and w.dtype == np.float32
    assert net.to(device="cpu", dtype="float64") is net and w.dtype == np.float64
    assert net.to(np.float32).cpu() is net and w.dtype == np.float32 and net.device == "cpu"
    assert net.to("cuda:0" if md.cuda_available() else "cpu") is net
    with pytest.raises(TypeError, match="device given twice"):
        net.to("cpu", "cpu")
    with pytest.raises(ValueError, match="cupy.cuda.Device\\(1\\).use\\(\\)"):
        net.to("cuda:1")
    with pytest.raises(TypeError, match="unknown dtype 'cdu'"):
        net.to("cdu")


@pytest.mark.gpu
def test_to_cuda_zero_moves_parameters_buffers_and_the_optimizer_state():
    if not md.cuda_available():
        pytest.skip(GPU_REASON)
    m = Outer()
    opt = md.optim.Adam(m.parameters(), lr=0.1)
    m.scale.grad = md.ones(3)
    opt.step()
    assert m.to("cuda:0") is m
    assert {t.device for t in [*m.parameters(), *m.buffers()]} == {"cuda"}
    m.scale.grad = md.ones(3, device="cuda")
    opt.step()
    assert m.cpu().device == "cpu" and m.cuda(0).device == "cuda" and m.cuda().device == "cuda"
    assert isinstance(m.state_dict()["inner.count"], np.ndarray)


def test_layer_input_dtype_rule():
    md.manual_seed(0)
    x64 = np.random.default_rng(0).normal(size=(2, 3, 6, 6))
    x32 = x64.astype(np.float32)
    for layer, x in ((nn.Dense(6, 4), x64[:, 0, 0]), (nn.Conv2D(3, 2, 3), x64),
                     (nn.LSTM(6, 4), x64[:, 0])):
        out64 = layer(md.tensor(x))
        out32 = layer(md.tensor(x.astype(np.float32)))
        out64, out32 = (o[0] if isinstance(o, tuple) else o for o in (out64, out32))
        assert out64.dtype == np.float32  # computed in the parameters' dtype, as Keras
        np.testing.assert_array_equal(out64.numpy(), out32.numpy())
        name = type(layer).__name__
        for bad in (x.astype(np.int64), x > 0):
            with pytest.raises(TypeError, match=f"{name}: expected floating-point input, got dtype"):
                layer(md.tensor(bad))
    # float32 input to a float64 model computes in float64 and the gradient reaches x in float32
    dense = nn.Dense(3, 2).double()
    x = md.tensor(x32[:, 0, 0, :3], requires_grad=True)
    y = dense(x)
    y.sum().backward()
    assert y.dtype == np.float64 and x.grad.dtype == np.float32
    assert dense.weight.grad.dtype == np.float64


def test_sequential_accepts_one_list_or_an_ordered_dict():
    layers = [nn.Dense(2, 3), nn.ReLU()]
    assert list(nn.Sequential(layers)) == layers
    assert list(nn.Sequential(tuple(layers))) == layers
    named = nn.Sequential(OrderedDict([("fc", layers[0]), ("act", layers[1])]))
    assert [n for n, _ in named.named_children()] == ["fc", "act"]
    assert named.fc is layers[0] and named[1] is layers[1]
    with pytest.raises(TypeError, match="Sequential: argument 1 is a str, not a Module"):
        nn.Sequential([nn.ReLU(), "relu"])


def test_errors_inside_a_sequential_name_the_layer_and_keep_their_type():
    model = nn.Sequential(nn.Conv2D(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Dense(9, 2))
    with pytest.raises(ValueError, match=r"^layer 3 \(Dense\): Dense: expected input of shape "
                                         r"\(\.\.\., 9\), got \(1, 18\)$") as info:
        model(md.zeros(1, 1, 5, 5))
    assert isinstance(info.value.__cause__, ValueError)
    assert str(info.value.__cause__).startswith("Dense: expected input")
    with pytest.raises(TypeError, match=r"^layer 0 \(Conv2D\): Conv2D: expected floating-point"):
        model(md.zeros(1, 1, 5, 5, dtype="int64"))
    nested = nn.Sequential(nn.ReLU(), nn.Sequential(nn.Dense(2, 2), nn.Dense(3, 1)))
    with pytest.raises(ValueError, match=r"^layer 1 \(Sequential\): layer 1 \(Dense\): Dense: "):
        nested(md.zeros(4, 2))


def test_an_exception_that_cannot_take_a_message_keeps_its_object_with_a_note():
    class Picky(Exception):
        def __init__(self, code: int, detail: str) -> None:
            super().__init__(f"{code}: {detail}")

    class Raises(nn.Module):
        def forward(self, x):
            raise Picky(7, "no")

    with pytest.raises(Picky, match="7: no") as info:
        nn.Sequential(nn.ReLU(), Raises())(md.zeros(1))
    assert info.value.__notes__ == ["raised in layer 1 (Raises) of a Sequential"]
