"""Numba optimizer updates: the contract of `minidl.kernels.optim`, one fused pass over
the parameter, in place, with no temporaries (C-contiguous arrays of one float dtype);
float32 Adam's and momentum SGD's check for subnormal state (`_adam32_many`, `_sgd32`) adds a
second pass over the few elements it finds, with small block-sized buffers (Adam's skips
the frozen ones, a dead unit's, whose step changes nothing but v: `_frozen`).

The hyperparameters arrive as an array of the parameter's dtype, so a float32 model
rounds them as the NumPy reference does and both give the same bits (the reference
does each element's arithmetic in the same order; Numba does not fuse multiply-adds
unless asked to).

Each kernel is one `pjit` source started through `launch`: in parallel from
`MINIDL_UPDATE_PARALLEL_MIN` elements (measured break-even on 2 cores; an update reads
4 arrays and writes 3), on the calling thread below. `_adam32_many` alone is a serial
`jit` kernel, started through `call`, that updates up to eight parameters a call.

Numba inlines most helpers (`inline="always"`): a call to another `jit` function can stay
a call inside the loop, which LLVM then leaves scalar (`_adam`'s serial build took 4x as
long with `_same` a plain `jit`), and `_adam32_block` as a call of its own made the MLP's
Adam step 20 us longer. `_round32` and `_subnormal` are plain `jit` functions, which LLVM
inlines: Numba's inlining retypes a body at every call site, and with those two inlined
that way `_adam32_many`'s first compile took 2.4 s against 1.5 s, for the same update times.
"""
from __future__ import annotations

import functools
import math
from fractions import Fraction
from typing import Any

import numpy as np
from numba import prange

from minidl.kernels._numba import call, jit, launch, pjit
from minidl.kernels._route import tuning


@jit(inline="always")
def _same(x):  # pragma: no cover - compiled
    return x


# float32's smallest normal, and the float64 constant whose addition rounds a value below
# it onto float32's subnormal grid (multiples of 2^-149, ties to even): 1.5 * 2^(52-149)
_TINY32 = 1.1754943508222875e-38
_SNAP32 = 1.5 * 2.0 ** -97


@jit
def _round32(x):  # pragma: no cover - compiled
    """float64 `x` rounded to float32 as a float32 operation rounds its exact result, and
    back to float64 (rounding twice, to 53 bits then to float32, is exact for +, -, *, /
    and sqrt of float32 operands). A subnormal result is snapped onto float32's grid in
    float64 first, so no float32 arithmetic ever sees or makes one: converting a value
    that is already exact costs no assist."""
    snapped = (x + _SNAP32) - _SNAP32
    return np.float64(np.float32(snapped if abs(x) < _TINY32 else x))


@jit(inline="always")
def _decayed(pk, gk, h, wd_mode, r):  # pragma: no cover - compiled
    """(p, g) with the weight decay applied; `r` rounds each operation's result (`_same` in
    the arrays' dtype, `_round32` for float32 carried in float64). (Callers pass `r` on
    themselves: passed down a second level, Numba calls it through a pointer.)"""
    wd, decay = h[7], h[8]  # read unconditionally, or LLVM leaves the loop scalar
    if wd_mode == 1:  # L2: the decay joins the gradient
        gk = r(gk + r(wd * pk))
    elif wd_mode == 2:  # decoupled (AdamW)
        pk = r(pk * decay)
    return pk, gk


@jit(inline="always")
def _adam_moments(pk, gk, mk, vk, h, r):  # pragma: no cover - compiled
    """(p, m, v) after the step, from the decayed p and g."""
    b1, omb1, b2, omb2, step_size, sqrt_bc2, eps = h[0], h[1], h[2], h[3], h[4], h[5], h[6]
    mk = r(r(mk * b1) + r(omb1 * gk))
    vk = r(r(vk * b2) + r(r(omb2 * gk) * gk))
    return r(pk - r(step_size * r(mk / r(r(r(np.sqrt(vk)) / sqrt_bc2) + eps)))), mk, vk


@jit(inline="always")
def _adam_one(p, g, m, v, k, h, wd_mode):  # pragma: no cover - compiled
    u = np.uintp(k)
    pk, gk = _decayed(p[u], g[u], h, wd_mode, _same)
    p[u], m[u], v[u] = _adam_moments(pk, gk, m[u], v[u], h, _same)


@pjit(over=lambda p, *_: p.size)
def _adam(p, g, m, v, h, wd_mode):  # pragma: no cover - compiled
    for k in prange(p.size):
        _adam_one(p, g, m, v, k, h, wd_mode)


@jit
def _subnormal(x):  # pragma: no cover - compiled
    return (abs(x) < np.float32(_TINY32)) & (x != 0)


@jit(inline="always")
def _flags(size):  # pragma: no cover - compiled
    """One flag byte for each of `size` elements, in whole 8-byte words for `_flagged`
    (the bytes past `size` zero)."""
    odd = np.empty((size + 7) // 8 * 8, np.uint8)
    odd[size:] = 0
    return odd


@jit(inline="always")
def _flagged(odd, at):  # pragma: no cover - compiled
    """The indices of the nonzero bytes of `odd` (from `_flags`) into `at`, in order, found
    8 flags at a time; returns how many."""
    n = 0
    words = odd.view(np.uint64)
    for w in range(words.size):
        if words[w] != 0:
            for k in range(8 * w, 8 * w + 8):
                at[n] = k
                n += odd[k] != 0
    return n


@jit(inline="always")
def _frozen(pk, gk, mk, vk, sm, sv, h):  # pragma: no cover - compiled
    """Whether a step leaves this element's p and m as they are, so that its subnormal
    moments need no arithmetic: g = 0, m a subnormal that m*b1 rounds back to
    (|m| <= h[9]), v not subnormal or one that v*b2 rounds back to (<= h[10]), and
    |p| >= h[11], where p - lr*m/(... + eps) rounds back to p (`_frozen_bounds`; inf
    under weight decay, which moves p or makes g nonzero)."""
    return sm & (gk == 0) & (abs(mk) <= h[9]) & ((abs(vk) <= h[10]) | ~sv) & (abs(pk) >= h[11])


@jit(inline="always")
def _adam32_block(p, g, m, v, h, h64, wd_mode):  # pragma: no cover - compiled
    """`_adam` on one block of float32 arrays without subnormal float32 arithmetic:
    a vectorised pass updates every element, with a subnormal moment's input taken as 0
    and its output left as it was. That is exact for a frozen element (`_frozen`: a dead
    unit's, whose p and m do not move); the others are updated again afterwards, in
    float64 arithmetic rounded as float32's (the same bits). Returns whether any element
    had a subnormal moment."""
    odd = _flags(p.size)
    zero = np.float32(0.0)
    found = False  # an OR: LLVM left the loop scalar for a count
    for k in range(p.size):
        pk, gk, mk, vk = p[k], g[k], m[k], v[k]
        sm, sv = _subnormal(mk), _subnormal(vk)
        s = (sm | sv) & ~_frozen(pk, gk, mk, vk, sm, sv, h)
        keep_m, keep_v = sm | s, sv | s
        odd[k] = s
        found |= sm | sv
        pd, gd = _decayed(pk, gk, h, wd_mode, _same)
        pn, mn, vn = _adam_moments(pd, gd, zero if keep_m else mk, zero if keep_v else vk, h, _same)
        p[k], m[k], v[k] = pk if s else pn, mk if keep_m else mn, vk if keep_v else vn
    at = np.empty(p.size, np.intp)
    n = _flagged(odd, at)
    # gathered side by side and decayed, so that LLVM vectorises one float64 loop
    e = np.empty((4, n))
    for i in range(n):
        k = at[i]
        e[0, i], e[1, i] = _decayed(np.float64(p[k]), np.float64(g[k]), h64, wd_mode, _round32)
        e[2, i], e[3, i] = m[k], v[k]
    for i in range(n):
        e[0, i], e[2, i], e[3, i] = _adam_moments(e[0, i], e[1, i], e[2, i], e[3, i], h64, _round32)
    for i in range(n):
        k = at[i]
        p[k], m[k], v[k] = e[0, i], e[2, i], e[3, i]
    return found


# elements per block of the float32 Adam: its flags (one byte each) stay in L1
_BLOCK = 16384


@jit(inline="always")
def _adam32_blocks(p, g, m, v, h, h64, wd_mode):  # pragma: no cover - compiled
    """`_adam` for float32 without subnormal arithmetic, by blocks; returns whether any
    element had a subnormal moment. A unit whose gradient stays zero (a dead ReLU's
    weights) keeps its moments subnormal for good (x * 0.9 rounds back to x for the four
    smallest), and a float32 operation on a subnormal takes a microcode assist of ~100
    cycles: 2.8% of the MLP's first weight there tripled Adam's time on it."""
    found = False
    for lo in range(0, p.size, _BLOCK):
        hi = min(lo + _BLOCK, p.size)
        found |= _adam32_block(p[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], h, h64, wd_mode)
    return found


# parameters per call of `_adam32_many`: a tuple's length is part of the kernel's type, so
# one length serves every model (shorter lists are padded with empty arrays)
_SLOTS = 8


@jit
def _adam32_many(ps, gs, ms, vs, h, h64, count, wd_mode, found):  # pragma: no cover - compiled
    """`_adam32_blocks` on the first `count` of the tuples' float32 parameters in turn,
    found[i] nonzero where the i-th has a subnormal moment; on the calling thread (it
    serves the small parameters, and the large ones on a sixteenth of the steps where
    they have no subnormals: a parallel build would compile for longer than it saves). One call for a
    model's small parameters: their updates are a few microseconds each, their calls
    one by one from Python cost more than that."""
    for i in range(count):
        found[i] = _adam32_blocks(ps[i], gs[i], ms[i], vs[i], h, h64, wd_mode)


@jit(inline="always")
def _sgd_step(pk, gk, bk, h, has_buf, nesterov, r):  # pragma: no cover - compiled
    """(p, buf) after the step; `r` rounds each operation's result as in `_decayed`."""
    lr, momentum, omd, wd = h[0], h[1], h[2], h[3]
    if wd != 0:
        gk = r(gk + r(wd * pk))
    if has_buf:
        bk = r(r(bk * momentum) + r(omd * gk))
        gk = r(gk + r(momentum * bk)) if nesterov else bk
    return r(pk - r(lr * gk)), bk


@jit(inline="always")
def _sgd_one(p, g, buf, k, h, has_buf, nesterov):  # pragma: no cover - compiled
    u = np.uintp(k)
    if has_buf:
        p[u], buf[u] = _sgd_step(p[u], g[u], buf[u], h, True, nesterov, _same)
    else:  # `buf` is a stand-in: never read
        p[u], _ = _sgd_step(p[u], g[u], g[u], h, False, nesterov, _same)


@pjit(over=lambda p, *_: p.size)
def _sgd(p, g, buf, h, has_buf, nesterov):  # pragma: no cover - compiled
    for k in prange(p.size):
        _sgd_one(p, g, buf, k, h, has_buf, nesterov)


@jit(inline="always")
def _sgd32_block(p, g, buf, h, h64, nesterov):  # pragma: no cover - compiled
    """`_sgd` with momentum on one block of float32 arrays without subnormal float32
    arithmetic, as `_adam32_block`: the elements whose momentum is subnormal are left to
    `_sgd32_fixup`."""
    odd = _flags(p.size)
    zero = np.float32(0.0)
    for k in range(p.size):
        pk, bk = p[k], buf[k]
        s = _subnormal(bk)
        odd[k] = s
        pn, bn = _sgd_step(pk, g[k], zero if s else bk, h, True, nesterov, _same)
        p[k], buf[k] = pk if s else pn, bk if s else bn
    return _sgd32_fixup(p, g, buf, odd, h64, nesterov)


@jit
def _sgd32_fixup(p, g, buf, odd, h64, nesterov):  # pragma: no cover - compiled
    """The elements flagged in `odd` updated in float64 arithmetic rounded as float32's (the
    same bits as `_sgd`), as in `_adam32_block`; returns how many."""
    at = np.empty(p.size, np.intp)
    n = _flagged(odd, at)
    e = np.empty((3, n))
    for i in range(n):
        k = at[i]
        e[0, i], e[1, i], e[2, i] = p[k], g[k], buf[k]
    for i in range(n):
        e[0, i], e[2, i] = _sgd_step(e[0, i], e[1, i], e[2, i], h64, True, nesterov, _round32)
    for i in range(n):
        k = at[i]
        p[k], buf[k] = e[0, i], e[2, i]
    return n


@pjit(over=lambda p, *_: -(-p.size // _BLOCK))
def _sgd32(p, g, buf, h, h64, nesterov):  # pragma: no cover - compiled
    """`_sgd` with momentum for float32 without subnormal arithmetic, by blocks (one
    parallel task each). A dead unit's momentum decays into the subnormals and stays
    there (x * 0.9 rounds back to x for the four smallest), where each float32 operation
    on it takes a microcode assist: 2.8% of them made the update 7x slower. Returns how
    many elements had a subnormal momentum."""
    found = np.zeros((p.size + _BLOCK - 1) // _BLOCK, np.intp)  # per block: no shared sum
    for b in prange(found.size):
        lo = b * _BLOCK
        hi = min(lo + _BLOCK, p.size)
        found[b] = _sgd32_block(p[lo:hi], g[lo:hi], buf[lo:hi], h, h64, nesterov)
    return found.sum()


def _flat(a: np.ndarray) -> np.ndarray:
    return a.ravel()  # a view: the route passes C-contiguous arrays only


# float32 parameters below this many elements always take the kernel without subnormal
# arithmetic, in one call with the others: where none is subnormal it costs them 15-50%
# more than `_adam`, less than a call of their own would
ALWAYS_GUARDED = 1 << 16
_PAD = np.zeros(0, np.float32)
_F32 = np.dtype(np.float32)


def adam_update(param: np.ndarray, grad: np.ndarray, exp_avg: np.ndarray, exp_avg_sq: np.ndarray,
                step: int, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
                decoupled: bool) -> None:
    """In place, as the reference."""
    adam_update_many([param], [grad], [exp_avg], [exp_avg_sq], step, lr, beta1, beta2, eps,
                     weight_decay, decoupled)


def adam_update_many(params: list[np.ndarray], grads: list[np.ndarray], exp_avgs: list[np.ndarray],
                     exp_avg_sqs: list[np.ndarray], step: int, lr: float, beta1: float, beta2: float,
                     eps: float, weight_decay: float, decoupled: bool) -> None:
    """In place, as the reference's `adam_update` on each parameter: the float32 ones that
    are small or due a subnormal check in `_adam32_many` calls, the others one by one in
    `_adam` (in parallel when large)."""
    wd_mode = 0 if weight_decay == 0 else (2 if decoupled else 1)
    hyper: dict[np.dtype, np.ndarray] = {}
    guarded = []
    for p, g, m, v in zip(params, grads, exp_avgs, exp_avg_sqs, strict=True):
        dtype = p.dtype
        h = hyper.get(dtype)
        if h is None:
            h = hyper[dtype] = _adam_hyper(step, lr, beta1, beta2, eps, weight_decay, dtype)
        arrays = _flat(p), _flat(g), _flat(m), _flat(v)
        if dtype == _F32 and (p.size < ALWAYS_GUARDED or _guard.due(m)):
            guarded.append((arrays, m))
        else:
            launch(_adam, p.size, tuning("MINIDL_UPDATE_PARALLEL_MIN"), *arrays, h, wd_mode)
    for lo in range(0, len(guarded), _SLOTS):
        _adam32_call(guarded[lo:lo + _SLOTS], hyper[_F32], wd_mode)


def _adam_hyper(step: int, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
                dtype: np.dtype) -> np.ndarray:
    """The kernels' hyperparameter array `h`, in the parameters' dtype (so a float32 model
    rounds them as the NumPy reference does); for float32, h[9:12] are `_frozen`'s bounds."""
    # sqrt(1 - b2^t) stays a divisor, as in the reference: multiplying by its rounded
    # reciprocal would differ in the last bit
    h = np.array([beta1, 1.0 - beta1, beta2, 1.0 - beta2, lr / (1.0 - beta1 ** step),
                  math.sqrt(1.0 - beta2 ** step), eps, weight_decay, 1.0 - lr * weight_decay,
                  0.0, 0.0, math.inf], dtype=dtype)
    if dtype == _F32 and weight_decay == 0:
        h[9:12] = _frozen_bounds(*h[[0, 2, 4, 6]].tolist())
    return h


_SUB32 = 2.0 ** -149  # float32's smallest subnormal: every subnormal is k * _SUB32
_MAX32 = float(np.finfo(np.float32).max)


@functools.lru_cache(maxsize=64)
def _fixed_subnormals(beta: float) -> int:
    """The largest k such that float32 k' * 2^-149 times float32 `beta`, rounded to float32,
    gives k' back for every 0 < k' <= k: k' * beta rounds to k' while k' * (1 - beta) < 1/2,
    and at 1/2 exactly (a tie, rounded to even) for even k'."""
    t = Fraction(1, 2) / (1 - Fraction(beta)) if beta < 1 else Fraction(2 ** 23)
    k = math.ceil(t) - 1 + (t.denominator == 1 and t.numerator % 2 == 0)
    return min(k, 2 ** 23 - 1)  # (the subnormals' largest k)


def _frozen_bounds(beta1: float, beta2: float, step_size: float, eps: float
                   ) -> tuple[float, float, float]:
    """`_frozen`'s (largest |m|, largest subnormal v, smallest |p|), from the float32 values
    of h; no element is frozen (smallest |p| inf) where eps is 0 or m*b1 moves every m."""
    m_max = _fixed_subnormals(beta1) * _SUB32
    if eps <= 0 or m_max == 0:
        return 0.0, 0.0, math.inf
    # |step_size * (m / den)| with den >= eps, each of the two float32 roundings taken at
    # its largest (relative, or absolute among the subnormals)
    delta = step_size * (m_max / eps * (1 + 2.0 ** -23) + _SUB32) * (1 + 2.0 ** -23) + _SUB32
    # p - delta rounds to p where |delta| < |p| * 2^-26 (half the spacing below p, which
    # is at least |p| * 2^-25); twice that, for the rounding of this bound to float32
    p_min = delta * 2.0 ** 27
    return m_max, _fixed_subnormals(beta2) * _SUB32, p_min if p_min < _MAX32 else math.inf


def _adam32_call(chunk: list[tuple[tuple[np.ndarray, ...], np.ndarray]], h: np.ndarray,
                 wd_mode: int) -> None:
    """One `_adam32_many` call on up to _SLOTS (flat arrays, exp_avg) entries; whether the
    large parameters had subnormal moments goes to the guard."""
    pad = (_PAD,) * (_SLOTS - len(chunk))
    tuples = [kind + pad for kind in zip(*(arrays for arrays, _ in chunk))]
    found = np.zeros(_SLOTS, np.intp)
    call(_adam32_many, *tuples, h, h.astype(np.float64), len(chunk), wd_mode, found)
    for (arrays, m), count in zip(chunk, found):
        if arrays[0].size >= ALWAYS_GUARDED:
            _guard.found(m, int(count))


def sgd_update(param: np.ndarray, grad: np.ndarray, buf: Any, lr: float, momentum: float,
               dampening: float, nesterov: bool, weight_decay: float) -> None:
    """In place, as the reference."""
    h = np.array([lr, momentum, 1.0 - dampening, weight_decay], dtype=param.dtype)
    arrays = _flat(param), _flat(grad)
    work, threshold = param.size, tuning("MINIDL_UPDATE_PARALLEL_MIN")
    if buf is None:  # no momentum: nothing decays, nothing to guard
        launch(_sgd, work, threshold, *arrays, arrays[0][:1], h, False, bool(nesterov))
    elif param.dtype == np.float32 and _guard.due(buf):
        _guard.found(buf, launch(_sgd32, work, threshold, *arrays, _flat(buf), h,
                                 h.astype(np.float64), bool(nesterov)))
    else:
        launch(_sgd, work, threshold, *arrays, _flat(buf), h, True, bool(nesterov))


class _SubnormalGuard:
    """Which updates take the kernels without subnormal arithmetic (`_adam32_many`, `_sgd32`):
    they cost 15-50% more where no state element is subnormal (their selects and flags)
    and save 2-7x where some are. Each state buffer (by id) of a large parameter (for
    Adam, ALWAYS_GUARDED elements or more) gets one every CHECK_EVERY-th update, and
    every update while its last one found some. Which kernel runs never
    changes the bits, only the time, so an id reused by a new buffer does no harm."""

    CHECK_EVERY = 16
    MAX_TRACKED = 4096  # buffers of models long gone: forgotten, not kept for good

    def __init__(self) -> None:
        self._updates: dict[int, int] = {}
        self._dirty: set[int] = set()

    def due(self, buf: np.ndarray) -> bool:
        key = id(buf)
        n = self._updates.get(key, 0)
        if len(self._updates) >= self.MAX_TRACKED and key not in self._updates:
            self._updates.clear()
            self._dirty.clear()
        self._updates[key] = n + 1
        return n % self.CHECK_EVERY == 0 or key in self._dirty

    def found(self, buf: np.ndarray, count: int) -> None:
        (self._dirty.add if count else self._dirty.discard)(id(buf))


_guard = _SubnormalGuard()
