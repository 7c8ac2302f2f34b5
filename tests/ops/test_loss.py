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


# ---- weights, ignore_index and the losses of API v2 (PyTorch 2.13, float64) -------------------

W = [0.2, 1.0, 3.0]
IDX_IGNORED = [0, -100, 1, 2]


@st.composite
def weighted_ce_case(draw):
    n, k = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    logits, weight = rng.normal(0, 2, (n, k)), rng.uniform(0.2, 2, k)
    ignore = draw(st.sampled_from([-100, 0]))
    if draw(st.booleans()):
        target = rng.integers(0, k, n)
        target[rng.random(n) < 0.3] = ignore
    else:
        target, ignore = rng.dirichlet(np.ones(k), n), -100
    return (logits, target, weight, ignore, draw(st.sampled_from([0.0, 0.2])),
            draw(st.sampled_from(["mean", "sum", "none"])))


@given(case=weighted_ce_case())
def test_cross_entropy_with_weight_and_ignore_index_gradcheck(backend, case):
    logits, target, weight, ignore, ls, reduction = case
    if reduction == "mean" and target.dtype.kind == "i" and (target == ignore).all():
        return  # a mean over no sample is NaN, as in PyTorch: nothing to differentiate
    tgt = md.tensor(target, device=backend, requires_grad=target.dtype.kind == "f")
    w = md.tensor(weight, device=backend)
    f = lambda z, t: F.cross_entropy(z, t, reduction, ls, weight=w, ignore_index=ignore)
    assert md.gradcheck(f, _t(logits, backend, grad=True), tgt)


def test_cross_entropy_weight_and_ignore_index_match_torch(backend):
    z = _t(Z, backend, grad=True)
    target = md.tensor(IDX_IGNORED, device=backend)
    w = _t(W, backend)
    loss = F.cross_entropy(z, target, label_smoothing=0.1, weight=w)
    assert_close(loss, 66.41769182016044)  # the mean divides by the summed weights 0.2 + 1 + 3
    loss.backward()
    assert_close(z.grad, [[0.0015554714525937152, -0.0056463069788261055, 0.004090835526232401],
                          [0.0, 0.0, 0.0],
                          [0.0025341982588039454, 0.002804044737028676, -0.005338242995832619],
                          [0.6746031746031745, -0.007936507936507936, -0.6666666666666666]])
    assert_close(F.cross_entropy(z, target, "none", 0.1, weight=w),
                 [0.3114710087495307, 0.0, 0.37616796925762425, 278.2666666666667])
    assert_close(F.cross_entropy(z, target, "sum", 0.1, weight=w), 278.9543056446738)
    assert np.isnan(F.cross_entropy(z, md.tensor([-100] * 4, device=backend)).item())


def test_cross_entropy_weighted_probability_target_matches_torch(backend):
    z, p = _t(Z, backend, grad=True), _t(PROB, backend, grad=True)
    loss = F.cross_entropy(z, p, label_smoothing=0.1, weight=_t(W, backend))
    assert_close(loss, 6.004102898549043)  # the mean over probabilities divides by N
    loss.backward()
    assert_close(z.grad, [[0.07490438574393736, -0.047952792458379585, -0.026951593285557768],
                          [0.18667133082151924, 0.049581934031939855, -0.23625326485345907],
                          [-0.005593078478586836, 0.33527103334041247, -0.32967795486182566],
                          [0.03333333333333333, -0.008333333333333333, -0.025]])
    assert_close(p.grad, [[0.022706860605402758, 0.7885343030270138, 0.6781029090810413],
                          [0.042565980750381635, 0.23532990375190813, 0.9084897112557244],
                          [0.18430534482364722, 0.021526724118236015, 1.752080172354708],
                          [0.0, 45.0, 65.47500000000001]])


LOGP = [[-0.5045969023422835, -3.5045969023422834, -1.0045969023422834],
        [-0.9459106833418139, -1.045910683341814, -1.345910683341814],
        [-4.095674329414383, -0.09567432941438228, -2.5956743294143823], [0.0, -200.0, -97.0]]


def test_nll_loss_matches_torch(backend):
    logp = _t(LOGP, backend, grad=True)
    target = md.tensor([0, 2, 1, 2], device=backend)
    loss = F.nll_loss(logp, target, weight=_t(W, backend), ignore_index=1)
    assert_close(loss, 47.60300829524095)
    loss.backward()
    g = -0.4838709677419355
    assert_close(logp.grad, [[-0.03225806451612903, 0, 0], [0, 0, g], [0, 0, 0], [0, 0, g]])
    assert_close(F.nll_loss(logp, target, reduction="none"),
                 [0.5045969023422835, 1.345910683341814, 0.09567432941438228, 97.0])


def test_nll_loss_of_log_softmax_is_cross_entropy():
    z = _t(Z, grad=True)
    assert_close(F.nll_loss(F.log_softmax(z), IDX, weight=W), F.cross_entropy(z, IDX, weight=W))


@given(n=st.integers(1, 4), k=st.integers(1, 4), seed=st.integers(0, 2**16),
       reduction=st.sampled_from(["mean", "sum", "none"]), weighted=st.booleans())
def test_nll_loss_gradcheck(backend, n, k, seed, reduction, weighted):
    rng = np.random.default_rng(seed)
    target = rng.integers(0, k, n)
    w = md.tensor(rng.uniform(0.5, 2, k), device=backend) if weighted else None
    f = lambda x: F.nll_loss(x, md.tensor(target, device=backend), weight=w, reduction=reduction)
    assert md.gradcheck(f, rand_tensor((n, k), backend, seed=seed, low=-3, high=0))


P = [[0.2, 0.0, 0.9], [1.0, 0.5, 0.7]]
T01 = [[0.0, 1.0, 1.0], [1.0, 0.0, 0.3]]


def test_binary_cross_entropy_matches_torch(backend):
    p = _t(P, backend, grad=True)
    loss = F.binary_cross_entropy(p, _t(T01, backend), weight=_t([1.0, 2.0, 0.5], backend))
    assert_close(loss, 33.68950164889465)  # log(0) clamped at -100
    loss.backward()
    assert_close(p.grad, [[0.2083333333333333, -333333334665.26764, -0.0925925925925926],
                          [0.0, 0.6666666666666666, 0.1587301587301587]])
    assert_close(F.binary_cross_entropy(p, _t(T01, backend), reduction="none"),
                 [[0.22314355131420976, 100.0, 0.10536051565782628], [0.0, 0.6931471805599453,
                                                                     0.9497834462097748]])


@given(shape=shapes(1, 3), reduction=st.sampled_from(["mean", "sum", "none"]), weighted=st.booleans())
def test_binary_cross_entropy_gradcheck(backend, shape, reduction, weighted):
    w = rand_tensor(shape[-1:], backend, seed=3, low=0.5, high=2, requires_grad=False) if weighted else None
    f = lambda p, t: F.binary_cross_entropy(p, t, weight=w, reduction=reduction)
    p = rand_tensor(shape, backend, seed=1, low=0.05, high=0.95)
    assert md.gradcheck(f, p, rand_tensor(shape, backend, seed=2, low=0, high=1))


def test_bce_with_logits_weight_and_pos_weight_match_torch(backend):
    x, t = _t([[-3.0, 0.0, 2.5], [40.0, -40.0, 0.7]], backend, grad=True), _t(T01, backend, grad=True)
    w, pw = _t([[1.0], [2.0]], backend), _t([0.5, 2.0, 3.0], backend)
    loss = F.binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw)
    assert_close(loss, 0.6569577120007911)
    loss.backward()
    assert_close(x.grad, [[0.00790431219626113, -0.16666666666666666, -0.037929090010621724],
                          [0.0, 1.4161180850971963e-18, 0.05636681182302198]], atol=1e-30)
    assert_close(t.grad, [[0.2459510540355215, 0.11552453009332421, -0.3903700885691501],
                          [-13.333333333333334, 26.666666666666668, 0.03545736592363857]])
    assert_close(F.binary_cross_entropy_with_logits(x, t, "none", weight=w, pos_weight=pw),
                 [[0.048587351573742055, 1.3862943611198906, 0.23666920287764887],
                  [4.248354255291589e-18, 0.0, 2.270195356433465]], atol=1e-30)


@given(shape=shapes(1, 3), reduction=st.sampled_from(["mean", "sum", "none"]), weighted=st.booleans())
def test_bce_with_logits_pos_weight_gradcheck(backend, shape, reduction, weighted):
    pw = rand_tensor(shape[-1:], backend, seed=3, low=0.2, high=3, requires_grad=False)
    w = rand_tensor(shape, backend, seed=4, low=0.5, high=2, requires_grad=False) if weighted else None
    f = lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction, weight=w, pos_weight=pw)
    x = rand_tensor(shape, backend, seed=1, low=-4, high=4)
    assert md.gradcheck(f, x, rand_tensor(shape, backend, seed=2, low=0, high=1))


A = [[0.5, -1.0, 2.0], [3.0, 0.25, -0.75]]
B = [[1.0, -1.0, 1.0], [-2.0, 0.5, 0.0]]  # one element equal: L1's gradient there is 0


@pytest.mark.parametrize("name, kwargs, mean, grad, none", [
    ("l1_loss", {}, 1.25, [[-1 / 6, 0.0, 1 / 6], [1 / 6, -1 / 6, -1 / 6]],
     [[0.5, 0.0, 1.0], [5.0, 0.25, 0.75]]),
    ("smooth_l1_loss", {"beta": 0.6}, 1.0184027777777778,
     [[-0.1388888888888889, 0.0, 1 / 6], [1 / 6, -0.06944444444444445, -1 / 6]],
     [[0.20833333333333334, 0.0, 0.7], [4.7, 0.052083333333333336, 0.45]]),
    ("huber_loss", {"delta": 0.7}, 0.6910416666666667,
     [[-0.08333333333333333, 0.0, 0.11666666666666665], [0.11666666666666665, -0.041666666666666664,
                                                           -0.11666666666666665]],
     [[0.125, 0.0, 0.45499999999999996], [3.255, 0.03125, 0.27999999999999997]]),
])
def test_elementwise_losses_match_torch(backend, name, kwargs, mean, grad, none):
    a, b = _t(A, backend, grad=True), _t(B, backend, grad=True)
    loss = getattr(F, name)(a, b, **kwargs)
    assert_close(loss, mean)
    loss.backward()
    assert_close(a.grad, grad)
    assert_close(b.grad, -np.array(grad))
    assert_close(getattr(F, name)(a, b, "none", **kwargs), none)
    assert_close(getattr(F, name)(a, b, "sum", **kwargs), np.sum(none))


@pytest.mark.parametrize("name, kwargs", [("l1_loss", {}), ("smooth_l1_loss", {"beta": 0.7}),
                                          ("smooth_l1_loss", {"beta": 0.0}), ("huber_loss", {"delta": 0.5})])
@given(shape=shapes(1, 3), reduction=st.sampled_from(["mean", "sum", "none"]))
def test_elementwise_losses_gradcheck(backend, name, kwargs, shape, reduction):
    f = lambda a, b: getattr(F, name)(a, b, reduction, **kwargs)
    assert md.gradcheck(f, rand_tensor(shape, backend, seed=1, low=-2, high=2),
                        rand_tensor(shape, backend, seed=2, low=-2, high=2))


def test_smooth_l1_with_beta_zero_is_l1():
    a, b = _t(A), _t(B)
    assert_close(F.smooth_l1_loss(a, b, beta=0.0), F.l1_loss(a, b))


def test_new_loss_arguments_are_checked():
    z, t = md.zeros(2, 3), md.tensor([0, 1])
    with pytest.raises(ValueError, match=r"cross_entropy: weight must have shape \(3,\), got \(2,\)"):
        F.cross_entropy(z, t, weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="weight must not require a gradient"):
        F.cross_entropy(z, t, weight=md.ones(3, requires_grad=True))
    with pytest.raises(TypeError):
        F.cross_entropy(z, t, "mean", 0.0, [1.0, 1.0, 1.0])  # weight is keyword-only
    with pytest.raises(ValueError, match=r"class indices must be in \[0, 3\).* \(besides ignore_index=1\)"):
        F.cross_entropy(z, md.tensor([1, 3]), ignore_index=1)
    with pytest.raises(ValueError, match="ignore_index=0 is not supported for class-probability"):
        F.cross_entropy(z, md.ones(2, 3) / 3, ignore_index=0)
    with pytest.raises(ValueError, match=r"nll_loss: class indices must be in \[0, 3\)"):
        F.nll_loss(z, md.tensor([0, 5]))
    with pytest.raises(ValueError, match="nll_loss: target must hold integer class indices"):
        F.nll_loss(z, md.zeros(2))
    with pytest.raises(ValueError, match=r"nll_loss: input must have shape \(N, C\)"):
        F.nll_loss(md.zeros(3), md.tensor([0]))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: input values must be in \[0, 1\], "
                                         r"got values from -0.5 to 0.5"):
        F.binary_cross_entropy(md.tensor([-0.5, 0.5]), md.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: target values must be in \[0, 1\]"):
        F.binary_cross_entropy(md.tensor([0.5, 0.5]), md.tensor([0.0, 2.0]))
    with pytest.raises(ValueError, match=r"pos_weight of shape \(2,\) does not broadcast to the "
                                         r"input's shape \(2, 3\)"):
        F.binary_cross_entropy_with_logits(z, md.zeros(2, 3), pos_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="smooth_l1_loss: beta must be >= 0, got -1"):
        F.smooth_l1_loss(z, z, beta=-1)
    with pytest.raises(ValueError, match="huber_loss: delta must be > 0, got 0"):
        F.huber_loss(z, z, delta=0)
    with pytest.raises(ValueError, match=r"l1_loss: input and target must have the same shape"):
        F.l1_loss(z, md.zeros(3))


# ---- an empty batch: a mean over nothing is NaN, a sum 0 (torch 2.13), without warnings -------

@pytest.mark.parametrize("loss, target", [
    (F.mse_loss, "float"), (F.l1_loss, "float"), (F.smooth_l1_loss, "float"),
    (F.huber_loss, "float"), (F.binary_cross_entropy_with_logits, "float"),
    (F.binary_cross_entropy, "float"), (F.cross_entropy, "probs")])
def test_mean_loss_of_an_empty_batch_is_nan(backend, loss, target):
    x = md.zeros(0, 3, dtype="float64", requires_grad=True, device=backend)
    t = md.zeros(0, 3, dtype="float64", device=backend)
    y = loss(x, t)
    assert y.shape == () and np.isnan(y.item())
    y.backward()
    assert x.grad.shape == (0, 3)
    assert loss(x, t, reduction="sum").item() == 0.0
