"""Loss ops: fused softmax cross-entropy, MSE, BCE with logits (the kernels: tests/kernels).

Known values were computed with PyTorch 2.13 (float64) and pasted as literals.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
import minidl.functional as F
from minidl.ops.loss import SoftmaxCrossEntropy
from tests.helpers import assert_close, rand_tensor, shapes

Z = [[1.0, -2.0, 0.5], [0.3, 0.2, -0.1], [-1.5, 2.5, 0.0], [100.0, -100.0, 3.0]]
IDX = [0, 2, 1, 2]
PROB = [[0.7, 0.2, 0.1], [0.0, 0.5, 0.5], [0.25, 0.25, 0.5], [1.0, 0.0, 0.0]]


def _t(data, backend="numpy", grad=False, dtype="float64"):
    return md.tensor(data, dtype=dtype, requires_grad=grad, device=backend)


@st.composite
def ce_case(draw):
    n, k = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    logits = rng.normal(0, 2, (n, k))
    if draw(st.booleans()):
        target = rng.integers(0, k, n)
    else:
        target = rng.dirichlet(np.ones(k), n)
    return logits, target, draw(st.sampled_from([0.0, 0.1, 0.35])), draw(st.sampled_from(["mean", "sum", "none"]))


@given(case=ce_case())
def test_cross_entropy_gradcheck(backend, case):
    logits, target, ls, reduction = case
    tgt = md.tensor(target, device=backend, dtype=None if target.dtype.kind == "i" else "float64",
                    requires_grad=target.dtype.kind == "f")  # probability targets get gradients too
    f = lambda z, t: F.cross_entropy(z, t, reduction=reduction, label_smoothing=ls)
    assert md.gradcheck(f, _t(logits, backend, grad=True), tgt)


@given(shape=shapes(1, 3), reduction=st.sampled_from(["mean", "sum", "none"]))
def test_mse_gradcheck(backend, shape, reduction):
    f = lambda a, b: F.mse_loss(a, b, reduction)
    assert md.gradcheck(f, rand_tensor(shape, backend, seed=1), rand_tensor(shape, backend, seed=2))


@given(shape=shapes(1, 3), reduction=st.sampled_from(["mean", "sum", "none"]))
def test_bce_with_logits_gradcheck(backend, shape, reduction):
    f = lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction)
    x = rand_tensor(shape, backend, seed=1, low=-4, high=4)
    t = rand_tensor(shape, backend, seed=2, low=0, high=1)
    assert md.gradcheck(f, x, t)


# ---- known values (PyTorch 2.13, float64) ---------------------------------------------

def test_cross_entropy_index_target_label_smoothing_matches_torch(backend):
    z = _t(Z, backend, grad=True)
    loss = F.cross_entropy(z, md.tensor(IDX, device=backend), reduction="none", label_smoothing=0.1)
    assert_close(loss, [0.6212635690089501, 1.3225773500084808, 0.312340996081049, 97.2])
    loss.backward(md.ones(4, dtype="float64", device=backend))
    assert_close(z.grad, [[-0.32958443718470753, -0.00327444576375931, 0.3328588829484669],
                          [0.35499243468354486, 0.31803835195588975, -0.6730307866394345],
                          [-0.01668881472406099, -0.02457340907482009, 0.04126222379888109],
                          [0.9666666666666667, -0.03333333333333333, -0.9333333333333333]])


def test_cross_entropy_probability_target_label_smoothing_matches_torch(backend):
    z = _t(Z, backend, grad=True)
    loss = F.cross_entropy(z, _t(PROB, backend), reduction="none", label_smoothing=0.1)
    assert_close(loss, [1.2062635690089503, 1.1875773500084805, 2.337340996081049, 9.9])
    loss.backward(md.ones(4, dtype="float64", device=backend))
    assert_close(z.grad, [[-0.05958443718470752, -0.1832744457637593, 0.24285888294846686],
                          [0.35499243468354486, -0.13196164804411026, -0.22303078663943454],
                          [-0.241688814724061, 0.6504265909251798, -0.4087377762011189],
                          [0.06666666666666665, -0.03333333333333333, -0.03333333333333333]])


def test_cross_entropy_probability_target_gradient_matches_torch():
    p = _t(PROB, grad=True)
    loss = F.cross_entropy(_t(Z), p, label_smoothing=0.1)
    assert_close(loss, 3.65779547877462)
    loss.backward()
    assert_close(p.grad, [[0.11353430302701378, 0.78853430302701377, 0.22603430302701377],
                          [0.21282990375190813, 0.23532990375190813, 0.30282990375190816],
                          [0.92152672411823611, 0.021526724118236015, 0.58402672411823597],
                          [0.0, 45.0, 21.824999999999999]])


def test_cross_entropy_reductions_agree():
    per = F.cross_entropy(_t(Z), md.tensor(IDX), reduction="none").numpy()
    assert_close(F.cross_entropy(_t(Z), md.tensor(IDX), reduction="sum"), per.sum())
    assert_close(F.cross_entropy(_t(Z), md.tensor(IDX)), per.mean())
    # without smoothing a one-hot probability target is the same as the index target
    onehot = np.eye(3)[IDX]
    assert_close(F.cross_entropy(_t(Z), _t(onehot), reduction="none"), per)


def test_cross_entropy_stable_for_huge_logits(backend):
    z = _t([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]], backend, grad=True)
    loss = F.cross_entropy(z, md.tensor([1, 0], device=backend), reduction="none")
    assert_close(loss, [20000.0, 20000.0])
    loss.sum().backward()
    assert np.isfinite(z.grad.numpy()).all()
    assert_close(z.grad, [[1.0, -1.0, 0.0], [-1.0, 0.0, 1.0]])


def test_cross_entropy_float32(backend):
    z = md.tensor(np.array(Z, dtype=np.float32), requires_grad=True, device=backend)
    loss = F.cross_entropy(z, md.tensor(IDX, device=backend), label_smoothing=0.1)
    assert loss.dtype == np.float32
    assert_close(loss, np.mean([0.6212635690089501, 1.3225773500084808, 0.312340996081049, 97.2]),
                 rtol=1e-6)
    loss.backward()
    assert z.grad.dtype == np.float32


def test_cross_entropy_is_one_fused_node():
    z = _t(Z, grad=True)
    loss = F.cross_entropy(z, md.tensor(IDX))
    assert isinstance(loss.creator, SoftmaxCrossEntropy)
    assert loss.creator.inputs[0] is z


def test_mse_matches_torch(backend):
    a = _t([[0.5, -1.0, 2.0], [3.0, 0.25, -0.75]], backend, grad=True)
    b = _t([[1.0, 1.0, 1.0], [-2.0, 0.5, 0.0]], backend)
    loss = F.mse_loss(a, b)
    assert_close(loss, 5.145833333333333)
    loss.backward()
    assert_close(a.grad, [[-0.16666666666666666, -0.6666666666666666, 0.3333333333333333],
                          [1.6666666666666665, -0.08333333333333333, -0.25]])
    assert_close(F.mse_loss(a, b, "sum"), 30.875)
    assert_close(F.mse_loss(a, b, "none"), [[0.25, 4.0, 1.0], [25.0, 0.0625, 0.5625]])


def test_bce_with_logits_matches_torch(backend):
    x = _t([[-3.0, 0.0, 2.5], [40.0, -40.0, 0.7]], backend, grad=True)
    t = _t([[0.0, 1.0, 1.0], [1.0, 0.0, 0.3]], backend)
    per = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    assert_close(per, [[0.048587351573742055, 0.69314718055994529, 0.078889734292549626],
                       [4.2483542552915889e-18, 0.0, 0.89318604888545783]])
    loss = F.binary_cross_entropy_with_logits(x, t)
    assert_close(loss, 0.28563505255194915)
    loss.backward()
    assert_close(x.grad, [[7.9043121962611308e-03, -8.3333333333333329e-02, -1.2643030003540575e-02],
                          [0.0, 7.0805904254859815e-19, 6.1364628694694362e-02]], atol=1e-30)
    assert_close(F.binary_cross_entropy_with_logits(x, t, "sum"), 1.7138103153116948)


def test_bce_with_logits_no_overflow():
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow is harmless
        loss = F.binary_cross_entropy_with_logits(_t([1e4, -1e4]), _t([0.0, 1.0]), "none")
    assert_close(loss, [1e4, 1e4])


# ---- bad input ----------------------------------------------------------------------

@pytest.mark.parametrize("target, message", [
    ([0, 3], r"class indices must be in \[0, 3\) for 3 classes, got values from 0 to 3"),
    ([-1, 0], r"class indices must be in \[0, 3\).*from -1 to 0"),
    ([[0], [1]], r"class-index target must have shape \(N,\) = \(2,\), got \(2, 1\)"),
    ([0, 1, 2], r"class-index target must have shape \(N,\) = \(2,\), got \(3,\)"),
    ([[0, 1, 0], [1, 0, 0]], r"got \(2, 3\) \(class probabilities \(N, C\) must be float\)"),
    (np.array([0.0, 1.0]), r"shape \(N,\) must hold integer class indices, got dtype float64"),
    (np.ones((2, 4)), r"probability target must have shape \(N, C\) = \(2, 3\), got \(2, 4\)"),
    (np.array([True, False]), r"integer class indices \(N,\) or float class probabilities"),
])
def test_cross_entropy_bad_targets(target, message):
    with pytest.raises(ValueError, match="cross_entropy: .*" + message):
        F.cross_entropy(md.zeros(2, 3), target)


def test_cross_entropy_bad_arguments():
    with pytest.raises(ValueError, match=r"logits must have shape \(N, C\), got \(3,\)"):
        F.cross_entropy(md.zeros(3), md.tensor([0]))
    with pytest.raises(ValueError, match=r"reduction must be one of .*'avg'"):
        F.cross_entropy(md.zeros(2, 3), md.tensor([0, 1]), reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        F.cross_entropy(md.zeros(2, 3), md.tensor([0, 1]), label_smoothing=1.5)
    with pytest.raises(TypeError, match="logits must be a floating-point tensor"):
        F.cross_entropy(md.tensor([[1, 2]]), md.tensor([0]))


def test_mse_and_bce_shape_mismatch():
    with pytest.raises(ValueError, match=r"mse_loss: input and target must have the same shape, "
                                         r"got \(2, 3\) and \(3,\)"):
        F.mse_loss(md.zeros(2, 3), md.zeros(3))
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: .* \(2,\) and \(2, 1\)"):
        F.binary_cross_entropy_with_logits(md.zeros(2), md.zeros(2, 1))
    with pytest.raises(ValueError, match="mse_loss: reduction"):
        F.mse_loss(md.zeros(2), md.zeros(2), reduction="max")
