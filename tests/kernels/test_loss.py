"""Loss kernels: the cross-entropy reference against finite differences; Numba and CuPy
== the reference; the route; the reference is what runs in op context with fast
kernels off."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
import minidl.functional as F
from minidl.kernels import loss, set_kernels
from minidl.kernels.loss import reference
from minidl.kernels.loss.reference import CrossEntropySaved
from tests.kernels.numba_cases import DTYPES, rand
from tests.helpers import assert_close, rand_tensor
from tests.kernels.implementations import Impl, impl  # noqa: F401 - fixture


def _targets(rng: np.random.Generator, n: int, k: int, kind: str, dtype: str) -> np.ndarray:
    if kind == "index":
        return rng.integers(0, k, size=n)
    t = rng.random((n, k))
    return (t / t.sum(axis=1, keepdims=True)).astype(dtype)


# ---- the reference ------------------------------------------------------------------

@pytest.mark.parametrize("weighted", [False, True])
def test_reference_backward_matches_central_differences(weighted):
    rng = np.random.default_rng(0)
    logits, gloss = rng.normal(size=(3, 4)), rng.normal(size=3)
    weight = rng.random(4) + 0.5 if weighted else None
    for target in (np.array([3, -100, 1]), rng.dirichlet(np.ones(4), 3)):
        needs = (True, target.dtype.kind == "f")
        _, saved = reference.softmax_cross_entropy_forward(logits, target, 0.2, needs, weight)
        assert_close(saved.probs.sum(1), np.ones(3))
        analytic = reference.softmax_cross_entropy_backward(saved, gloss, needs)

        def objective(z, t):
            return reference.softmax_cross_entropy_forward(z, t, 0.2, (True, False), weight)[0] @ gloss

        for i, x in enumerate((logits, target) if needs[1] else (logits,)):
            numeric = np.zeros_like(x)
            for k in np.ndindex(x.shape):
                d = np.zeros_like(x)
                d[k] = 1e-6
                args = [logits, target]
                args[i] = x + d
                up = objective(*args)
                args[i] = x - d
                numeric[k] = (up - objective(*args)) / 2e-6
            assert_close(analytic[i], numeric, rtol=1e-6, atol=1e-8)


def test_reference_ignored_samples_count_for_nothing():
    logits, target = np.random.default_rng(1).normal(size=(3, 4)), np.array([2, -100, 0])
    loss, saved = reference.softmax_cross_entropy_forward(logits, target, 0.1)
    assert loss[1] == 0 and loss[0] > 0 and loss[2] > 0
    dz, _ = reference.softmax_cross_entropy_backward(saved, np.full(3, np.inf))  # a mean over nothing
    assert not dz[1].any() and np.isinf(dz[0]).all()
    assert reference.mean_divisor(target, None, -100, np.float64) == 2
    assert reference.mean_divisor(target, np.array([1.0, 2.0, 3.0, 4.0]), -100, np.float64) == 4


def test_reference_gives_no_gradient_where_none_is_needed():
    logits, target = np.zeros((2, 3)), np.full((2, 3), 1 / 3)
    _, saved = reference.softmax_cross_entropy_forward(logits, target, 0.0, (True, False))
    assert saved.logp is None  # log p is kept only for a target that needs a gradient
    dz, dt = reference.softmax_cross_entropy_backward(saved, np.ones(2), (True, False))
    assert dz.shape == (2, 3) and dt is None


# ---- the fast kernels == the reference ------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["index", "prob"])
@given(n=st.integers(1, 6), k=st.integers(1, 12), seed=st.integers(0, 2**16),
       scale=st.sampled_from([1.0, 30.0, 1e4]), ls=st.sampled_from([0.0, 0.1, 1.0]),
       weighted=st.booleans(), ignore=st.sampled_from([None, -100, 0]),
       reduction=st.sampled_from(["none", "sum", "mean"]))
def test_cross_entropy_equals_reference(impl: Impl, dtype, kind, n, k, seed, scale, ls, weighted, ignore,
                                        reduction):
    """Per sample or reduced (the Numba kernels reduce as they go, the others in the route)."""
    rng = np.random.default_rng(seed)
    logits = rand((n, k), dtype, seed, scale)
    target = _targets(rng, n, k, kind, dtype)
    ignore_index = -100 if ignore is None else ignore
    if kind == "index" and ignore is not None:  # some samples carry the ignored label
        target[rng.random(n) < 0.3] = ignore_index
    weight = (rng.random(k) + 0.5).astype(dtype) if weighted else None
    got, saved = loss.softmax_cross_entropy_forward(impl.to(logits), impl.to(target), ls, (True, False),
                                                    impl.to(weight), ignore_index, reduction)
    want, saved_ref = reference.reduced(*reference.softmax_cross_entropy_forward(
        logits, target, ls, (True, False), weight, ignore_index), reduction)
    impl.assert_same(saved.probs, saved_ref.probs, dtype)
    # the loss subtracts nearly equal numbers for huge logits: compare on the logits' scale
    tol = impl.tolerance(dtype)
    atol = 8 * tol["rtol"] * scale * (n if reduction == "sum" else 1)
    np.testing.assert_allclose(impl.back(got), want, rtol=tol["rtol"], atol=atol)
    assert impl.back(got).dtype == want.dtype and impl.back(got).shape == want.shape
    gloss = rand(want.shape, dtype, seed + 1)
    # the same saved state on both sides: the backward is compared on its own
    saved = saved_ref._replace(probs=impl.to(saved_ref.probs), target=impl.to(target), weight=impl.to(weight))
    dz, dt = loss.softmax_cross_entropy_backward(saved, impl.to(gloss))
    each = reference.expand_loss_grad(gloss, (n,), reduction, saved_ref.divisor)
    impl.assert_same(dz, reference.softmax_cross_entropy_backward(saved_ref, each)[0], dtype)
    assert dt is None
    if impl.name != "cpu":
        assert {f"ce_forward_{kind}", f"ce_backward_{kind}"} <= set(impl.launched)


def test_cross_entropy_mean_over_no_sample_is_nan_with_zero_gradients(impl: Impl):
    """Every sample ignored: the mean divides 0 by 0 (NaN, as PyTorch, and no warning), and
    no sample gets a gradient."""
    logits, target = np.ones((3, 4), np.float32), np.full(3, -100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got, saved = loss.softmax_cross_entropy_forward(impl.to(logits), impl.to(target), 0.0,
                                                        (True, False), None, -100, "mean")
        dz, _ = loss.softmax_cross_entropy_backward(saved, impl.to(np.array(1.0, np.float32)))
    assert np.isnan(impl.back(got)) and impl.back(got).shape == ()
    np.testing.assert_array_equal(impl.back(dz), np.zeros((3, 4), np.float32))


def test_huge_logits_are_stable(impl: Impl):
    logits = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4, -1e4]])
    got, (probs, *_) = loss.softmax_cross_entropy_forward(impl.to(logits), impl.to(np.array([1, 2])), 0.0)
    np.testing.assert_allclose(impl.back(got), [1e4, np.log(3)])
    np.testing.assert_allclose(impl.back(probs), [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]])


@pytest.mark.parametrize("bad", [3, -1])
def test_out_of_range_class_is_an_error_or_nan_never_a_wild_read(impl: Impl, bad):
    """Numba checks on the host for free, and so does the reference (a negative index
    would read from the row's end); on the GPU a check would cost a sync: NaN."""
    logits, target = np.zeros((2, 3)), np.array([0, bad])
    if impl.name == "cpu":
        for run in (loss.softmax_cross_entropy_forward, reference.softmax_cross_entropy_forward):
            message = (rf"cross_entropy: class indices must be in \[0, 3\) for 3 classes, got "
                       rf"values from {min(0, bad)} to {max(0, bad)}")
            with pytest.raises(ValueError, match=message):
                run(logits, target, 0.0)
        return
    got, _ = loss.softmax_cross_entropy_forward(impl.to(logits), impl.to(target), 0.0)
    got = impl.back(got)
    assert got[0] == pytest.approx(np.log(3)) and np.isnan(got[1])


def test_broadcast_gloss_from_a_mean(impl: Impl):
    """gloss arrives as a zero-stride broadcast view after `mean`: it is read correctly."""
    probs, target = np.full((3, 2), 0.5), np.array([0, 1, 1])
    gloss = np.broadcast_to(np.array(1 / 3), (3,))
    dev = impl.xp.broadcast_to(impl.xp.asarray(np.array(1 / 3)), (3,))
    saved = CrossEntropySaved(probs, target, 0.0, None, None, -100)
    dz, _ = loss.softmax_cross_entropy_backward(saved._replace(probs=impl.to(probs), target=impl.to(target)), dev)
    want, _ = reference.softmax_cross_entropy_backward(saved, gloss)
    impl.assert_same(dz, want, "float64")


# ---- the route ----------------------------------------------------------------------------

def test_probability_targets_on_the_cpu_run_the_reference(monkeypatch):
    from minidl.kernels.loss import cpu  # noqa: PLC0415

    monkeypatch.setattr(cpu, "softmax_cross_entropy_forward", lambda *a: pytest.fail("kernel called"))
    logits, target = rand((2, 3), "float64", 0), np.full((2, 3), 1 / 3)
    got, _ = loss.softmax_cross_entropy_forward(logits, target, 0.0)
    assert_close(got, reference.softmax_cross_entropy_forward(logits, target, 0.0)[0])


def test_a_reduced_loss_scaled_by_a_number_still_runs_the_kernels_backward(monkeypatch):
    """`(loss * 2).backward()` hands the loss a NumPy scalar gradient (a 0-d product): the
    Numba backward takes it (not the reference), with the mean's divisor applied once."""
    from minidl.kernels.loss import cpu  # noqa: PLC0415

    ran = []
    real = cpu.softmax_cross_entropy_backward
    monkeypatch.setattr(cpu, "softmax_cross_entropy_backward", lambda *a: (ran.append(1), real(*a))[1])
    z = md.tensor(rand((4, 3), "float32", 0), requires_grad=True)
    (F.cross_entropy(z, md.tensor(np.array([0, 2, 1, 2]))) * 2.0).backward()
    assert ran == [1]
    probs = np.exp(z.data) / np.exp(z.data).sum(axis=1, keepdims=True)
    probs[np.arange(4), [0, 2, 1, 2]] -= 1
    np.testing.assert_allclose(z.grad.data, probs * 2 / 4, rtol=1e-6, atol=1e-7)


def test_a_target_that_needs_a_gradient_runs_the_reference(impl: Impl):
    logits, target = rand((2, 3), "float64", 0), np.full((2, 3), 1 / 3)
    needs = (True, True)
    got, saved = loss.softmax_cross_entropy_forward(impl.to(logits), impl.to(target), 0.1, needs)
    want, saved_ref = reference.softmax_cross_entropy_forward(logits, target, 0.1, needs)
    impl.assert_same(got, want, "float64")
    grads = loss.softmax_cross_entropy_backward(saved, impl.to(np.ones(2)), needs)
    for a, b in zip(grads, reference.softmax_cross_entropy_backward(saved_ref, np.ones(2), needs)):
        impl.assert_same(a, b, "float64")
    assert not impl.launched


@pytest.mark.parametrize("kind", ["index", "prob"])
def test_reference_mode_runs_the_reference_in_the_ops(monkeypatch, kind):
    """With fast kernels off, the loss ops run reference.py (forward and backward), and
    they gradcheck."""
    called: list[str] = []
    for name in ("softmax_cross_entropy_forward", "softmax_cross_entropy_backward"):
        real = getattr(reference, name)
        monkeypatch.setattr(reference, name, lambda *a, _r=real, _n=name: (called.append(_n), _r(*a))[1])
    before = set_kernels("reference")
    try:
        rng = np.random.default_rng(1)
        z = rand_tensor((3, 4), seed=2)
        t = md.tensor(_targets(rng, 3, 4, kind, "float64"))
        assert md.gradcheck(lambda z: F.cross_entropy(z, t, label_smoothing=0.1), z)
        assert called.count("softmax_cross_entropy_forward") > 1
        assert "softmax_cross_entropy_backward" in called
        a, b = rand_tensor((2, 3), seed=3), rand_tensor((2, 3), seed=4)
        assert md.gradcheck(lambda a, b: F.mse_loss(a, b), a, b)
        assert md.gradcheck(lambda a, b: F.binary_cross_entropy_with_logits(a, b), a, b)
    finally:
        set_kernels(before)
