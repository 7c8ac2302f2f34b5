"""The module system: registration, traversal, modes, dtypes, state dicts, Sequential, repr."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import minidl as md
from minidl import nn


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
