"""ModuleList, ModuleDict, Identity: PyTorch's containers."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from minidl import nn


class Tower(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(nn.Dense(2, 2) for _ in range(n))
        self.heads = nn.ModuleDict({"keys": nn.Dense(2, 1), "cls": nn.Dense(2, 3)})

    def forward(self, x):
        for block in self.blocks:
            x = block(x).relu()
        return {name: head(x) for name, head in self.heads.items()}


def test_module_list_registers_its_modules_in_order():
    t = Tower(3)
    names = [n for n, _ in t.named_parameters()]
    assert names == ["blocks.0.weight", "blocks.0.bias", "blocks.1.weight", "blocks.1.bias",
                     "blocks.2.weight", "blocks.2.bias", "heads.keys.weight", "heads.keys.bias",
                     "heads.cls.weight", "heads.cls.bias"]
    out = t(md.ones(4, 2))
    assert out["keys"].shape == (4, 1) and out["cls"].shape == (4, 3)
    opt = md.optim.SGD(t.parameters(), lr=0.1)
    (out["keys"].sum() + out["cls"].sum()).backward()
    opt.step()
    assert all(p.grad is not None for p in t.parameters())


def test_module_list_is_a_list():
    a, b, c, d = (nn.Dense(1, 1) for _ in range(4))
    ml = nn.ModuleList([a, b])
    assert len(ml) == 2 and ml[0] is a and ml[-1] is b and list(ml) == [a, b]
    ml.append(c)
    ml.extend([d])
    assert [n for n, _ in ml.named_children()] == ["0", "1", "2", "3"]
    sub = ml[1:3]
    assert isinstance(sub, nn.ModuleList) and list(sub) == [b, c]
    ml.insert(0, d)
    assert list(ml) == [d, a, b, c, d] and [n for n, _ in ml.named_children()] == ["0", "1", "2", "3"]
    del ml[0]
    assert list(ml) == [a, b, c, d] and list(ml._modules) == ["0", "1", "2", "3"]
    ml[1] = c
    assert ml[1] is c
    ml += [nn.ReLU()]
    assert len(ml) == 5 and isinstance(ml[4], nn.ReLU)
    assert isinstance(ml + [nn.ReLU()], nn.ModuleList) and len(ml) == 5
    with pytest.raises(IndexError, match="ModuleList: index 5 is out of range for 5 modules"):
        ml[5]
    with pytest.raises(TypeError, match="ModuleList: item 1 is a int, not a Module"):
        nn.ModuleList([nn.ReLU(), 3])
    with pytest.raises(NotImplementedError, match="ModuleList has no forward"):
        ml(md.ones(1))


def test_module_dict_is_a_dict():
    a, b = nn.Dense(1, 1), nn.ReLU()
    mdict = nn.ModuleDict([("a", a), ("b", b)])
    assert mdict.keys() == ["a", "b"] and mdict.values() == [a, b] and mdict.items() == [("a", a), ("b", b)]
    assert "a" in mdict and "z" not in mdict and len(mdict) == 2 and list(mdict) == ["a", "b"]
    assert mdict["a"] is a and mdict.a is a
    mdict["keys"] = nn.Tanh()  # a key named like a method does not hide the method
    assert mdict.keys() == ["a", "b", "keys"] and isinstance(mdict["keys"], nn.Tanh)
    assert mdict.pop("b") is b and "b" not in mdict
    del mdict["keys"]
    assert mdict.keys() == ["a"]
    mdict.update({"c": nn.Sigmoid()})
    assert mdict.keys() == ["a", "c"]
    with pytest.raises(KeyError, match=r"ModuleDict: no module named 'b' \(has \['a', 'c'\]\)"):
        mdict["b"]
    with pytest.raises(KeyError, match=r"contain no '\.'"):
        mdict["x.y"] = nn.ReLU()
    with pytest.raises(TypeError, match="ModuleDict: value for 'x' is a float, not a Module"):
        mdict["x"] = 1.0
    mdict.clear()
    assert len(mdict) == 0


def test_identity_passes_anything_through():
    x = md.randn(2, 3, requires_grad=True)
    ident = nn.Identity(54, unused="argument")
    assert ident(x) is x and list(ident.parameters()) == []
    model = nn.Sequential(nn.Dense(3, 3), nn.Identity())
    np.testing.assert_array_equal(model(x).numpy(), model[0](x).numpy())


def test_repr_of_containers():
    assert repr(nn.ModuleList([nn.ReLU(), nn.Identity()])) == (
        "ModuleList(\n  (0): ReLU()\n  (1): Identity()\n)")
    assert repr(nn.ModuleDict({"act": nn.Tanh()})) == "ModuleDict(\n  (act): Tanh()\n)"
