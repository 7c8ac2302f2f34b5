"""Optimizer update kernels: Numba and CuPy == the reference, in place; the route; the
reference is what runs in optimizer context with fast kernels off."""
from __future__ import annotations

import platform
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from minidl.kernels import _route, optim, set_kernels
from minidl.kernels.optim import reference
from tests.kernels.numba_cases import DTYPES, rand as _rand
from tests.helpers import shapes
from tests.kernels.implementations import Impl, impl  # noqa: F401 - fixture


def rand(shape, dtype, seed, scale=1.0) -> np.ndarray:
    """An array even for shape () (a 0-d parameter is updated in place too)."""
    return np.array(_rand(shape, dtype, seed, scale))


def _adam_args(step: int, wd: float, decoupled: bool, lr: float = 1e-2) -> tuple:
    return step, lr, 0.9, 0.999, 1e-8, wd, decoupled


@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=shapes(0, 3, 1, 6), seed=st.integers(0, 2**16), wd=st.sampled_from([0.0, 0.05]),
       decoupled=st.booleans(), lr=st.sampled_from([1e-3, 0.1]))
def test_adam_equals_reference_over_steps(impl: Impl, dtype, shape, seed, wd, decoupled, lr):
    p, m = rand(shape, dtype, seed), rand(shape, dtype, seed + 1, 0.1)
    v = rand(shape, dtype, seed + 2, 0.01)
    np.abs(v, out=v)  # (np.abs of a 0-d array is a scalar: not updatable in place)
    fast = [impl.to(a.copy()) for a in (p, m, v)]
    for step in range(1, 4):
        g = rand(shape, dtype, seed + 2 + step)
        g_fast = impl.to(g)
        optim.adam_update(fast[0], g_fast, fast[1], fast[2], *_adam_args(step, wd, decoupled, lr))
        reference.adam_update(p, g, m, v, *_adam_args(step, wd, decoupled, lr))
        np.testing.assert_array_equal(impl.back(g_fast), g)  # gradients are never written
    for a, b in zip(fast, (p, m, v)):
        impl.assert_same(a, b, dtype)
    if impl.name != "cpu":
        assert "adam_update" in impl.launched


@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=shapes(0, 3, 1, 6), seed=st.integers(0, 2**16), momentum=st.sampled_from([0.0, 0.9]),
       dampening=st.sampled_from([0.0, 0.5]), nesterov=st.booleans(), wd=st.sampled_from([0.0, 0.01]))
def test_sgd_equals_reference_over_steps(impl: Impl, dtype, shape, seed, momentum, dampening, nesterov, wd):
    p = rand(shape, dtype, seed)
    buf = np.zeros(shape, dtype) if momentum else None
    p_fast, buf_fast = impl.to(p.copy()), impl.to(None if buf is None else buf.copy())
    for step in range(3):
        g = rand(shape, dtype, seed + 1 + step)
        damp = 0.0 if step == 0 else dampening  # PyTorch: buf = g on the first step
        optim.sgd_update(p_fast, impl.to(g), buf_fast, 0.1, momentum, damp, nesterov, wd)
        reference.sgd_update(p, g, buf, 0.1, momentum, damp, nesterov, wd)
    impl.assert_same(p_fast, p, dtype)
    if buf is not None:
        impl.assert_same(buf_fast, buf, dtype)
    if impl.name != "cpu":
        assert "sgd_update" in impl.launched


def test_float32_adam_gives_the_reference_bits_on_a_large_parallel_update(impl: Impl):
    if impl.name != "cpu":
        pytest.skip("bit equality is the Numba kernel's promise (CUDA may flush subnormals)")
    shape = (_route.tuning("MINIDL_UPDATE_PARALLEL_MIN") + 5,)
    p, m, g = rand(shape, "float32", 0), rand(shape, "float32", 1, 0.1), rand(shape, "float32", 2)
    v = np.abs(rand(shape, "float32", 3, 0.01))
    fast = [a.copy() for a in (p, m, v)]
    optim.adam_update(fast[0], g, fast[1], fast[2], *_adam_args(7, 0.0, False, 1e-3))
    reference.adam_update(p, g, m, v, *_adam_args(7, 0.0, False, 1e-3))
    for a, b in zip(fast, (p, m, v)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("wd, decoupled", [(0.0, False), (0.01, False), (0.01, True)])
@pytest.mark.parametrize("lr, betas, eps", [(1e-3, (0.9, 0.999), 1e-8), (0.3, (0.99, 0.9999), 1e-12),
                                            (1e-2, (0.9, 0.999), 0.0)])
def test_float32_adam_with_subnormal_moments_gives_the_reference_bits(impl: Impl, wd, decoupled, lr,
                                                                      betas, eps):
    """The moments of a unit whose gradient stays zero end up subnormal and stay there:
    the Numba kernel leaves those whose p and m cannot move (frozen) as they are, updates
    the others apart (in float64 arithmetic rounded as float32's), and must still give the
    reference's bits, across blocks, for NaN and inf, and for p so small that it moves."""
    if impl.name != "cpu":
        pytest.skip("bit equality is the Numba kernel's promise (CUDA may flush subnormals)")
    from minidl.kernels.optim import cpu

    n = 2 * cpu._BLOCK + 77  # three of the kernel's blocks
    rng = np.random.default_rng(0)
    p = rng.standard_normal(n).astype(np.float32)
    g = (rng.standard_normal(n) * 1e-3).astype(np.float32)
    m = (rng.standard_normal(n) * 1e-4).astype(np.float32)
    v = ((rng.standard_normal(n) * 1e-3) ** 2).astype(np.float32)
    tiny = np.float32(2.0 ** -149)
    g[::37] = 0  # dead units: m decays into the subnormals
    m[::37] = tiny * rng.integers(-8, 9, m[::37].size)  # x * 0.9 rounds back to x up to 4
    m[5::37] = np.float32(3e-38)  # normal now, subnormal after a step
    v[::53] = tiny * rng.integers(0, 2000, v[::53].size)
    v[::37 * 3] = tiny * (495 + np.arange(v[::37 * 3].size) % 12)  # x * 0.999 gives x back up to 500
    m[11], g[12], v[13] = np.nan, np.inf, tiny
    # dead units near zero, where p - lr*m/(sqrt(v)+eps) does move p: not frozen
    v[::37 * 2] = 0
    p[::37 * 2] = np.logspace(-38, -18, p[::37 * 2].size) * rng.choice([-1, 1], p[::37 * 2].size)
    fast = [a.copy() for a in (p, m, v)]
    with np.errstate(invalid="ignore", divide="ignore"):  # the NaN and inf elements; eps 0
        for step in range(1, 6):
            args = step, lr, *betas, eps, wd, decoupled
            optim.adam_update(fast[0], g, fast[1], fast[2], *args)
            reference.adam_update(p, g, m, v, *args)
    for a, b in zip(fast, (p, m, v)):
        np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))
    subnormal = (np.abs(m) < np.finfo(np.float32).tiny) & (m != 0)
    if not (wd and not decoupled):  # (L2 decay gives a dead unit a gradient: m turns normal)
        assert subnormal.sum() > n // 50  # the case this test is about did occur


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.75, 0.875, 0.9, 0.99, 0.999, 0.9999, 1 - 2.0 ** -24])
def test_fixed_subnormals_are_those_a_float32_product_gives_back(beta):
    """`_frozen` leaves a subnormal moment m as it is where m * beta rounds back to m:
    `_fixed_subnormals` gives the largest such k * 2^-149, every smaller one fixed too
    (0.5, 0.75, 0.875: ties, rounded to even)."""
    from minidl.kernels.optim import cpu

    b = np.float32(beta)
    k = cpu._fixed_subnormals(float(b))
    ks = np.arange(1, min(k + 2, 2 ** 23), dtype=np.uint32)
    x = ks.view(np.float32)
    same = (x * b).view(np.uint32) == ks
    assert same[:k].all()
    assert k == 2 ** 23 - 1 or not same[k]


def test_float32_adam_runs_the_subnormal_kernel_where_a_check_found_some(monkeypatch):
    """The kernel without subnormal arithmetic costs more where there are none: a large
    parameter's update takes it on every 16th step, and on every step for moment buffers
    where it last found some."""
    from minidl.kernels.optim import cpu

    ran = _kernels_run(monkeypatch, cpu)
    n = cpu.ALWAYS_GUARDED
    p, g = np.ones(n, np.float32), np.zeros(n, np.float32)
    clean = [np.full(n, 1e-3, np.float32), np.full(n, 1e-6, np.float32)]
    dirty = [np.full(n, 1e-3, np.float32), np.full(n, 1e-6, np.float32)]
    dirty[0][7] = np.float32(2.0 ** -149)
    for step in range(1, 20):
        for m, v in (clean, dirty):
            optim.adam_update(p.copy(), g, m, v, *_adam_args(step, 0.0, False))
    assert ran[0::2] == [cpu._adam32_many] + [cpu._adam] * 15 + [cpu._adam32_many] + [cpu._adam] * 2
    assert ran[1::2] == [cpu._adam32_many] * 19  # the subnormal stays: x * 0.9 rounds back to x


def test_adam_update_many_runs_small_float32_parameters_eight_a_call(monkeypatch):
    """One kernel call for up to eight small float32 parameters (their own calls would cost
    more than their updates); float64 ones, and large float32 ones not due a subnormal
    check, one by one."""
    from minidl.kernels.optim import cpu

    ran = _kernels_run(monkeypatch, cpu)
    small = [np.ones(k + 1, np.float32) for k in range(11)]
    large = np.ones(cpu.ALWAYS_GUARDED, np.float32)
    wide = np.ones(5, np.float64)
    params = [*small, large, wide]
    # one state per parameter across the steps, as an optimizer keeps it (the guard knows
    # a buffer by its id: fresh arrays each step may or may not reuse the last ones' ids)
    exp_avgs, exp_avg_sqs = [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]
    for step in (1, 2):
        optim.adam_update_many(params, [np.ones_like(p) for p in params], exp_avgs, exp_avg_sqs,
                               *_adam_args(step, 0.0, False))
    assert ran[:3] == [cpu._adam, cpu._adam32_many, cpu._adam32_many]  # the large one is due
    assert ran[3:] == [cpu._adam, cpu._adam, cpu._adam32_many, cpu._adam32_many]  # now it is not


@pytest.mark.parametrize("n", [1, 3, 8, 9, 20])
@given(seed=st.integers(0, 2**16), wd=st.sampled_from([0.0, 0.05]), decoupled=st.booleans())
def test_adam_update_many_equals_the_reference_on_each_parameter(impl: Impl, n, seed, wd, decoupled):
    """Parameters of many shapes and both float dtypes, a few with subnormal moments, in
    one list: each ends as the reference's `adam_update` leaves it (the Numba kernels: the
    same bits)."""
    rng = np.random.default_rng(seed)
    want, fast, grads = [], [], []
    for k in range(n):
        dtype = DTYPES[int(rng.integers(len(DTYPES)))]
        shape = tuple(int(d) for d in rng.integers(1, 6, int(rng.integers(0, 3))))
        p, m = rand(shape, dtype, seed + 3 * k), rand(shape, dtype, seed + 3 * k + 1, 0.1)
        v = rand(shape, dtype, seed + 3 * k + 2, 0.01)
        np.abs(v, out=v)
        if k % 3 == 0 and m.size:
            m.reshape(-1)[0] = np.finfo(dtype).smallest_subnormal * 3
        want.append([p, m, v])
        fast.append([impl.to(a.copy()) for a in (p, m, v)])
        grads.append(rand(shape, dtype, seed + 100 + k))
    for step in (1, 2):
        optim.adam_update_many([f[0] for f in fast], [impl.to(g) for g in grads], [f[1] for f in fast],
                               [f[2] for f in fast], *_adam_args(step, wd, decoupled))
        for (p, m, v), g in zip(want, grads):
            reference.adam_update(p, g, m, v, *_adam_args(step, wd, decoupled))
    for got, exp in zip(fast, want):
        for a, b in zip(got, exp):
            if impl.name == "cpu":
                np.testing.assert_array_equal(a, b)
            else:
                impl.assert_same(a, b, b.dtype)


def _kernels_run(monkeypatch, cpu) -> list:
    """The kernels cpu.py starts from here on, in order (each still runs), with a fresh
    subnormal guard (it counts updates by buffer id, and ids are reused)."""
    monkeypatch.setattr(cpu, "_guard", cpu._SubnormalGuard())
    ran = []
    for name in ("launch", "call"):
        real = getattr(cpu, name)
        monkeypatch.setattr(cpu, name, lambda kernel, *a, _real=real: (ran.append(kernel), _real(kernel, *a))[1])
    return ran


@pytest.mark.parametrize("which", ["serial", "parallel"])
@pytest.mark.parametrize("nesterov, dampening, wd", [(False, 0.0, 0.0), (True, 0.0, 0.01), (False, 0.5, 0.01)])
def test_float32_sgd_with_subnormal_momentum_gives_the_reference_bits(impl: Impl, monkeypatch, which,
                                                                      nesterov, dampening, wd):
    """A dead unit's momentum decays into the subnormals and stays there: the Numba kernel
    updates those elements apart (in float64 arithmetic rounded as float32's), in both
    builds, and must still give the reference's bits, across blocks, for NaN and inf."""
    if impl.name != "cpu":
        pytest.skip("bit equality is the Numba kernel's promise (CUDA may flush subnormals)")
    from minidl.kernels.optim import cpu
    from tests.kernels.conftest import force_build

    force_build(monkeypatch, "MINIDL_UPDATE_PARALLEL_MIN", which)
    ran = _kernels_run(monkeypatch, cpu)
    n = 2 * cpu._BLOCK + 77  # three of the kernel's blocks
    rng = np.random.default_rng(0)
    p = rng.standard_normal(n).astype(np.float32)
    g = (rng.standard_normal(n) * 1e-3).astype(np.float32)
    buf = (rng.standard_normal(n) * 1e-3).astype(np.float32)
    tiny = np.float32(2.0 ** -149)
    g[::37] = 0  # dead units
    buf[::37] = tiny * rng.integers(-900, 900, buf[::37].size)
    buf[5::37] = np.float32(3e-38)  # normal now, subnormal after a step
    buf[7::37] = tiny * rng.integers(1, 99, buf[7::37].size)  # under a live gradient: every
    g[7::37] = rng.standard_normal(g[7::37].size)  # operation's rounding shows in the bits
    buf[11], g[12], p[13] = np.nan, np.inf, -np.inf
    fast = [p.copy(), buf.copy()]
    with np.errstate(invalid="ignore"):  # the NaN and inf elements
        for _ in range(5):
            optim.sgd_update(fast[0], g, fast[1], 1e-2, 0.9, dampening, nesterov, wd)
            reference.sgd_update(p, g, buf, 1e-2, 0.9, dampening, nesterov, wd)
    for a, b in zip(fast, (p, buf)):
        np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))
    assert ran[0] is cpu._sgd32  # the first update looks for subnormals
    if not wd:  # (weight decay gives a dead unit a gradient: its momentum turns normal)
        assert ran == [cpu._sgd32] * 5  # and finds some on every step
        assert ((np.abs(buf) < np.finfo(np.float32).tiny) & (buf != 0)).sum() > n // 50


def test_float32_sgd_runs_the_subnormal_kernel_where_a_check_found_some(monkeypatch):
    """As Adam's: every 16th update of a momentum buffer, and every update while its last
    check found a subnormal; no momentum, no check."""
    from minidl.kernels.optim import cpu

    ran = _kernels_run(monkeypatch, cpu)
    p, g = np.ones(64, np.float32), np.zeros(64, np.float32)
    clean, dirty = np.full(64, 1e-3, np.float32), np.full(64, 1e-3, np.float32)
    dirty[7] = np.float32(2.0 ** -149)
    for _ in range(19):
        for buf in (clean, dirty, None):
            optim.sgd_update(p.copy(), g, buf, 0.1, 0.9 if buf is not None else 0.0, 0.0, False, 0.0)
    assert ran[0::3] == [cpu._sgd32] + [cpu._sgd] * 15 + [cpu._sgd32] + [cpu._sgd] * 2
    assert ran[1::3] == [cpu._sgd32] * 19  # the subnormal stays: x * 0.9 rounds back to x
    assert ran[2::3] == [cpu._sgd] * 19


def _uncached_asm(kernel, *args) -> str:
    """The machine code of `kernel`'s source compiled afresh for `args` (Numba shows none
    for code loaded from its cache)."""
    import numba

    fresh = numba.njit(error_model="numpy")(kernel.py_func)
    fresh(*args)
    return "\n".join(fresh.inspect_asm().values())


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="reads x86 machine code")
@pytest.mark.parametrize("name, packed", [("_adam", "sqrtps"), ("_sgd", "mulps")])
def test_serial_update_kernels_are_vectorised(name, packed):
    """The serial builds run every small model's update: a helper left as a call inside
    their loop keeps LLVM from vectorising it (`_adam` ran 4x slower that way), so
    their float32 code must hold packed arithmetic (sqrtps/mulps, not sqrtss/mulss)."""
    from minidl.kernels.optim import cpu

    a = np.ones(64, np.float32)
    if name == "_adam":
        args = (a, a, a, a, cpu._adam_hyper(1, 1e-3, 0.9, 0.999, 1e-8, 0.0, np.dtype(np.float32)), 0)
    else:
        args = (a, a, a, np.array([0.1, 0.9, 1.0, 0.0], np.float32), True, False)
    asm = _uncached_asm(getattr(cpu, name).serial, *args)
    assert re.search(rf"\bv?{packed}\b", asm), f"{name}: no packed {packed} in its serial build"


def test_update_through_a_strided_gradient(impl: Impl):
    """Gradients may be views (transposed, broadcast): the kernel reads their values."""
    p = rand((3, 4), "float64", 0)
    for g in (rand((4, 3), "float64", 1).T, np.broadcast_to(rand((4,), "float64", 2), (3, 4))):
        fast, want = [impl.to(p.copy()), impl.to(np.zeros_like(p)), impl.to(np.zeros_like(p))], \
            [p.copy(), np.zeros_like(p), np.zeros_like(p)]
        optim.adam_update(fast[0], impl.to(g), fast[1], fast[2], *_adam_args(1, 0.0, False, 0.1))
        reference.adam_update(want[0], g, want[1], want[2], *_adam_args(1, 0.0, False, 0.1))
        for a, b in zip(fast, want):
            impl.assert_same(a, b, "float64")


# ---- the route ------------------------------------------------------------------------

def test_non_contiguous_or_mixed_arrays_run_the_reference_in_place(monkeypatch):
    """A transposed parameter view, or a float32 gradient for a float64 parameter, go to
    the reference, which updates the caller's arrays in place."""
    called = []
    real = reference.sgd_update
    monkeypatch.setattr(reference, "sgd_update", lambda *a: (called.append(1), real(*a)))
    base = np.arange(6.0).reshape(2, 3)
    expected = base.T.copy()
    real(expected, np.ones((3, 2)), None, 0.5, 0.0, 0.0, False, 0.0)
    optim.sgd_update(base.T, np.ones((3, 2)), None, 0.5, 0.0, 0.0, False, 0.0)
    np.testing.assert_array_equal(base.T, expected)
    p = np.ones(3)
    optim.sgd_update(p, np.ones(3, np.float32), None, 0.5, 0.0, 0.0, False, 0.0)
    np.testing.assert_array_equal(p, 0.5)
    assert len(called) == 2


def test_a_zero_dim_parameter_keeps_its_shape():
    p, m, v = np.array(1.0), np.array(0.0), np.array(0.0)
    optim.adam_update(p, np.array(2.0), m, v, *_adam_args(1, 0.0, False, 0.1))
    assert p.shape == m.shape == () and p == pytest.approx(0.9)


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_reference_mode_runs_the_reference_in_the_optimizer(monkeypatch, opt):
    """With fast kernels off, an optimizer step runs reference.py (and only it)."""
    name = f"{opt}_update"
    called = []
    real = getattr(reference, name)
    monkeypatch.setattr(reference, name, lambda *a: (called.append(name), real(*a)))
    before = set_kernels("reference")
    try:
        w = md.tensor(np.ones((2, 3)), requires_grad=True)
        o = md.optim.SGD([w], lr=0.1, momentum=0.9) if opt == "sgd" else md.optim.Adam([w], lr=0.1)
        (w * w).sum().backward()
        o.step()
    finally:
        set_kernels(before)
    assert called == [name]
    assert not np.allclose(w.numpy(), 1.0)
