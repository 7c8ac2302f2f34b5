"""Loss modules: PyTorch's names and arguments over the loss ops (numbers: tests/ops/test_loss.py)."""
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


def test_new_modules_equal_functional(backend):
    rng = np.random.default_rng(0)
    z = md.tensor(rng.normal(size=(4, 3)), device=backend)
    t = md.tensor([0, -100, 2, 1], device=backend)
    w = md.tensor([0.5, 1.0, 2.0], device=backend)
    p = md.tensor(rng.uniform(0.1, 0.9, (4, 3)), device=backend)
    y = md.tensor(rng.uniform(0, 1, (4, 3)), device=backend)
    pw = md.tensor([1.0, 2.0, 3.0], device=backend)
    cases = [
        (nn.CrossEntropyLoss(label_smoothing=0.1, weight=w), F.cross_entropy(z, t, label_smoothing=0.1, weight=w),
         (z, t)),
        (nn.CrossEntropyLoss(ignore_index=2), F.cross_entropy(z, md.tensor([0, 1, 2, 1], device=backend),
                                                              ignore_index=2), (z, md.tensor([0, 1, 2, 1], device=backend))),
        (nn.NLLLoss(w, reduction="sum"), F.nll_loss(F.log_softmax(z), t, w, reduction="sum"), (F.log_softmax(z), t)),
        (nn.BCELoss(w), F.binary_cross_entropy(p, y, w), (p, y)),
        (nn.BCEWithLogitsLoss(w, "none", pos_weight=pw),
         F.binary_cross_entropy_with_logits(z, y, "none", weight=w, pos_weight=pw), (z, y)),
        (nn.L1Loss("sum"), F.l1_loss(z, y, "sum"), (z, y)),
        (nn.SmoothL1Loss(beta=0.3), F.smooth_l1_loss(z, y, beta=0.3), (z, y)),
        (nn.HuberLoss(delta=0.4), F.huber_loss(z, y, delta=0.4), (z, y)),
    ]
    for module, expected, args in cases:
        assert_close(module(*args), expected)


def test_new_modules_gradcheck(backend):
    rng = np.random.default_rng(1)
    t = md.tensor([1, 0, -100], device=backend)
    w = md.tensor([0.5, 2.0], device=backend)
    z = rand_tensor((3, 2), backend, seed=2, low=-2, high=2)
    assert md.gradcheck(lambda z: nn.CrossEntropyLoss(weight=w)(z, t), z)
    assert md.gradcheck(lambda z: nn.NLLLoss(w)(z, t), z)
    p = md.tensor(rng.uniform(0.1, 0.9, (3, 2)), device=backend, requires_grad=True)
    assert md.gradcheck(lambda p: nn.BCELoss()(p, md.ones(3, 2, dtype="float64", device=backend) / 3), p)
    assert md.gradcheck(lambda z: nn.BCEWithLogitsLoss(pos_weight=w)(z, md.zeros_like(z) + 0.5), z)
    for module in (nn.L1Loss(), nn.SmoothL1Loss(beta=0.5), nn.HuberLoss(delta=0.5)):
        assert md.gradcheck(lambda a, b: module(a, b), z, rand_tensor((3, 2), backend, seed=3))


def test_new_modules_arguments_and_repr():
    assert repr(nn.L1Loss()) == "L1Loss(reduction='mean')"
    assert repr(nn.SmoothL1Loss("sum", beta=0.5)) == "SmoothL1Loss(reduction='sum', beta=0.5)"
    assert repr(nn.HuberLoss(delta=2)) == "HuberLoss(reduction='mean', delta=2.0)"
    assert repr(nn.CrossEntropyLoss(ignore_index=0)) == "CrossEntropyLoss(reduction='mean', ignore_index=0)"
    assert nn.NLLLoss().ignore_index == -100 and nn.BCEWithLogitsLoss().pos_weight is None
    with pytest.raises(ValueError, match="SmoothL1Loss: beta must be >= 0"):
        nn.SmoothL1Loss(beta=-0.5)
    with pytest.raises(ValueError, match="HuberLoss: delta must be > 0"):
        nn.HuberLoss(delta=0.0)
    with pytest.raises(ValueError, match="BCELoss: reduction must be one of"):
        nn.BCELoss(reduction="avg")
    with pytest.raises(TypeError):
        nn.CrossEntropyLoss("mean", 0.0, [1.0, 2.0])  # weight and ignore_index are keyword-only
