"""Loss modules: nn.MSELoss and nn.CrossEntropyLoss."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
import minidl.functional as F
from minidl import nn
from tests.helpers import assert_close, rand_tensor, shapes


@given(shape=shapes(1, 3), reduction=st.sampled_from(["mean", "sum", "none"]))
def test_mse_module_gradcheck(backend, shape, reduction):
    loss = nn.MSELoss(reduction)
    assert md.gradcheck(loss, rand_tensor(shape, backend, seed=1), rand_tensor(shape, backend, seed=2))


@given(n=st.integers(1, 4), k=st.integers(2, 5), ls=st.sampled_from([0.0, 0.2]),
       reduction=st.sampled_from(["mean", "sum", "none"]))
def test_cross_entropy_module_gradcheck(backend, n, k, ls, reduction):
    target = md.tensor(np.arange(n) % k, device=backend)
    loss = nn.CrossEntropyLoss(reduction, label_smoothing=ls)
    assert md.gradcheck(lambda z: loss(z, target), rand_tensor((n, k), backend, low=-3, high=3))


def test_modules_equal_functional():
    z = rand_tensor((3, 4), requires_grad=False)
    t = md.tensor([0, 3, 1])
    assert_close(nn.CrossEntropyLoss()(z, t), F.cross_entropy(z, t))
    assert_close(nn.CrossEntropyLoss("none", 0.1)(z, t),
                 F.cross_entropy(z, t, reduction="none", label_smoothing=0.1))
    y = rand_tensor((3, 4), seed=5, requires_grad=False)
    assert_close(nn.MSELoss()(z, y), ((z.numpy() - y.numpy()) ** 2).mean())
    assert_close(nn.MSELoss("sum")(z, y), ((z.numpy() - y.numpy()) ** 2).sum())


def test_known_value_matches_torch():
    # torch.nn.CrossEntropyLoss(label_smoothing=0.1) on these logits and classes (float64)
    z = md.tensor([[1.0, -2.0, 0.5], [0.3, 0.2, -0.1], [-1.5, 2.5, 0.0], [100.0, -100.0, 3.0]],
                  dtype="float64")
    loss = nn.CrossEntropyLoss(label_smoothing=0.1)(z, md.tensor([0, 2, 1, 2]))
    assert_close(loss, np.mean([0.6212635690089501, 1.3225773500084808, 0.312340996081049, 97.2]))


def test_bad_arguments_and_repr():
    with pytest.raises(ValueError, match="MSELoss: reduction must be one of"):
        nn.MSELoss("avg")
    with pytest.raises(ValueError, match="CrossEntropyLoss: reduction must be one of"):
        nn.CrossEntropyLoss("batchmean")
    with pytest.raises(ValueError, match="CrossEntropyLoss: label_smoothing must be in"):
        nn.CrossEntropyLoss(label_smoothing=-0.1)
    assert repr(nn.MSELoss()) == "MSELoss(reduction='mean')"
    assert repr(nn.CrossEntropyLoss("sum", 0.1)) == "CrossEntropyLoss(reduction='sum', label_smoothing=0.1)"
