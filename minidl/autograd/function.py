"""The op base class and the backward walk.

An op (`Function` subclass) implements `forward(*arrays)` and `backward(*grads)` on
raw backend arrays. Calling an op on tensors runs `forward` and, when a gradient is
needed, records the op as the creator of its outputs. The op holds its inputs
strongly and its outputs by weakref, so a graph lives exactly as long as the tensors
at its end.
"""
from __future__ import annotations

import heapq
import itertools
import weakref
from typing import Any

import numpy as np

from minidl import backend as B
from minidl.autograd.grad_mode import is_grad_enabled
from minidl.autograd.tensor import Tensor, as_tensor
from minidl.errors import DeviceMismatchError
from minidl.kernels._workspace import Workspace, using
from minidl.kernels._workspace import current as current_workspace


class Function:
    """Base class of every op. Subclasses set saved state in `forward` for `backward`."""

    generation: int = 0
    inputs: tuple[Tensor, ...] | None = None
    needs_input_grad: tuple[bool, ...] = ()
    # arithmetic ops: integer inputs mixed with floats take the float dtype (PyTorch's rule)
    promotes_ints: bool = False
    # true division: integers in, a float out (float32, PyTorch's default dtype)
    ints_make_float: bool = False
    # the outputs are views of the first input: they share its version counter, so an
    # in-place change through either is seen by ops that saved the other
    returns_view: bool = False
    # the process-wide count of in-place changes when the op was recorded: backward looks
    # for a changed saved array only when that count has moved since (a rare, slow path)
    epoch: int = 0
    # the scratch workspace of the model that recorded the op: its backward allocates there
    workspace: Workspace | None = None
    # backward returns arrays made for the call that nothing else refers to (no views of
    # an input or a saved array, none returned twice; a workspace array qualifies, as the
    # workspace hands it out again only once unreferenced): a leaf's first gradient then
    # takes the array itself rather than a copy, as PyTorch's AccumulateGrad steals
    fresh_grads: bool = False
    # set by the engine before backward: which output gradients nothing else refers to
    # (made by a fresh_grads op or by the engine), so backward may write into them
    writable_grads: tuple[bool, ...] = ()
    # set by the engine before backward: whether the graph is kept for another backward
    # (retain_graph); when not, backward may spend what it saved (write results over it)
    retained: bool = False
    # an output nobody used gets zeros as its gradient; an op that handles a None there
    # itself sets this False (PyTorch's ctx.set_materialize_grads(False)), sparing the
    # zeros and its own scan for them
    materialize_grads: bool = True

    @property
    def name(self) -> str:
        return type(self).__name__

    def forward(self, *xs: Any) -> Any:
        raise NotImplementedError

    def backward(self, *gys: Any) -> Any:
        raise NotImplementedError

    def __call__(self, *inputs: Any) -> Any:
        xs = _lift(inputs)
        _check_devices(self, xs)
        if self.promotes_ints:
            xs = _promote_ints(xs, self.ints_make_float)
        record = is_grad_enabled() and any(x.requires_grad for x in xs)
        self.needs_input_grad = tuple(x.requires_grad and record for x in xs)
        try:
            ys = self.forward(*[x.data for x in xs])
        except (ValueError, IndexError, TypeError) as exc:
            if str(exc).startswith(self.name):
                raise
            shapes = ", ".join(str(tuple(x.shape)) for x in xs)
            raise _renamed(exc, f"{self.name}: {exc} (input shapes {shapes})") from exc
        single = not isinstance(ys, tuple)
        outs = tuple(Tensor(y) for y in ((ys,) if single else ys))
        if self.returns_view:
            _share_version(xs[0], outs)
        if record:
            self.epoch = _inplace_epoch
            self.workspace = current_workspace()
            self.inputs = xs
            self.generation = max(x.generation for x in xs)
            self.out_meta = [(o.shape, o.dtype) for o in outs]
            self.outputs = [weakref.ref(o) for o in outs]
            for o in outs:
                if o.dtype.kind not in "fc":  # integer/bool results carry no gradient
                    continue
                o.creator = self
                o.requires_grad = True
                o.generation = self.generation + 1
        return outs[0] if single else outs

    def overwritable(self, i: int, gy: Any) -> Any:
        """gy, backward's i-th output gradient, when backward may write its result into it
        (the engine says nothing else refers to it, and it is C-contiguous); else None."""
        if i < len(self.writable_grads) and self.writable_grads[i] and gy.flags.c_contiguous:
            return gy
        return None

    def check_saved_versions(self) -> None:
        """Raise if an array this op kept for backward (an input's or output's array, a view
        of it or its base) was changed in place after the op was recorded."""
        if self.epoch == _inplace_epoch:  # nothing anywhere changed in place since: done
            return
        outputs = [(ref(), k) for k, ref in enumerate(self.outputs)]
        candidates = [(t, k) for t, k in [*((x, None) for x in self.inputs), *outputs]
                      if t is not None and t._vc is not None and t._vc.epoch > self.epoch]
        if not candidates:
            return
        held = _held_arrays(self)
        for t, output in candidates:
            base = getattr(t.data, "base", None)
            if id(t.data) in held or base is not None and id(base) in held:
                what = f"[{t.dtype} {tuple(t.shape)}]"
                if output is not None:
                    what += f", which is output {output} of {self.name},"
                raise RuntimeError(
                    f"one of the variables needed for gradient computation has been modified by "
                    f"an inplace operation: {what} is at version {t._version}, changed after "
                    f"{self.name} saved it. Hint: the tensor was changed in place (+=, t[idx] = "
                    f"v, zero_(), ...) between the forward pass and backward(); change a copy "
                    f"(.clone()) or do the in-place update after backward()")

    def release(self) -> None:
        """Drop inputs and saved arrays once backward has used them."""
        generation = self.generation
        self.__dict__.clear()
        self.generation = generation
        self.freed = True


class VersionCounter:
    """How many times a tensor's array was changed in place (PyTorch's `_version`), and the
    process-wide in-place count at the last change. Shared by the tensors that share the
    array: detach() and view ops."""

    __slots__ = ("value", "epoch")

    def __init__(self) -> None:
        self.value = 0
        self.epoch = 0


_inplace_epoch = 0  # in-place changes so far, in the whole process


def version_counter(t: Tensor) -> VersionCounter:
    """t's counter, made on first use (most tensors are never asked)."""
    if t._vc is None:
        t._vc = VersionCounter()
    return t._vc


def bump_version(t: Tensor) -> None:
    """Record an in-place change of t's array."""
    global _inplace_epoch
    _inplace_epoch += 1
    counter = version_counter(t)
    counter.value += 1
    counter.epoch = _inplace_epoch


def _share_version(x: Tensor, outs: tuple[Tensor, ...]) -> None:
    counter = version_counter(x)
    for o in outs:
        # a view op may still copy (reshape of a non-contiguous array): NumPy and CuPy say so
        # with base None; an array type without `base` is taken to be a view
        if getattr(o.data, "base", True) is not None:
            o._vc = counter


# what the engine sets on an op; everything else in its __dict__ is the op's own
_ENGINE_ATTRS = frozenset({"inputs", "outputs", "out_meta", "needs_input_grad", "generation", "epoch",
                           "workspace", "writable_grads"})
_PLAIN_VALUES = frozenset({type(None), bool, int, float, str})


def _held_arrays(fn: Function) -> set[int]:
    """ids of the arrays (and their bases) the op keeps in its attributes, also inside
    tuples and lists (a kernel's `saved` nests them)."""
    held: set[int] = set()
    stack = [value for key, value in vars(fn).items() if key not in _ENGINE_ATTRS]
    while stack:
        v = stack.pop()
        if type(v) in (tuple, list):
            stack.extend(v)
        elif type(v) not in _PLAIN_VALUES:
            held.add(id(v))
            base = getattr(v, "base", None)
            if base is not None:
                held.add(id(base))
    return held


def _renamed(exc: Exception, message: str) -> Exception:
    """`exc`'s type with a new message; its nearest builtin base when that type takes other arguments."""
    try:
        return type(exc)(message)
    except Exception:
        base = next(t for t in (IndexError, ValueError, TypeError) if isinstance(exc, t))
        return base(message)


def _lift(inputs: tuple[Any, ...]) -> tuple[Tensor, ...]:
    """Tensors stay; Python numbers and arrays become constant tensors like the first floating
    tensor (else the first integer one, else the first): a number never changes a float
    tensor's dtype, whichever input comes first (`where(mask, x32, 0)` is float32)."""
    tensors = [x for x in inputs if isinstance(x, Tensor)]
    ref = next((x for kinds in ("fc", "iu") for x in tensors if x.dtype.kind in kinds),
               tensors[0] if tensors else None)
    return tuple(x if isinstance(x, Tensor) else _constant(x, ref) for x in inputs)


def _promote_ints(xs: tuple[Tensor, ...], always: bool) -> tuple[Tensor, ...]:
    """Integer and bool inputs cast to the floating inputs' dtype, as PyTorch promotes
    (NumPy would make int64 with float32 a float64); to float32 when every input is an
    integer and the op makes floats anyway (`always`). Integer tensors carry no gradient,
    so the cast needs none."""
    floats = [x.dtype for x in xs if x.dtype.kind in "fc"]
    if len(floats) == len(xs) or not (floats or always):
        return xs
    target = promoted_dtype(*floats) if floats else np.dtype(np.float32)
    return tuple(x if x.dtype.kind in "fc" else Tensor(x.data.astype(target)) for x in xs)


def promoted_dtype(*dtypes: Any) -> np.dtype:
    """PyTorch's result dtype of mixed inputs: the floating ones decide when there are any
    (int64 with float32 is float32, where NumPy says float64)."""
    floats = [d for d in dtypes if np.dtype(d).kind in "fc"]
    return np.result_type(*(floats or dtypes))


def _constant(value: Any, ref: Tensor | None) -> Tensor:
    if ref is None:
        return as_tensor(value)
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        # NumPy scalars act as the Python numbers they hold (PyTorch's rule for float
        # tensors): the same result dtype on every device, no host array in a GPU op
        value = value.item()
    if isinstance(value, bool):
        dtype = "bool"
    elif isinstance(value, float):
        # a Python float never upcasts a float32 tensor (as in PyTorch)
        dtype = ref.dtype if ref.dtype.kind in "fc" else "float32"
    elif isinstance(value, int):
        dtype = ref.dtype if ref.dtype.kind in "fciu" else "int64"
    elif B.is_array(value):
        return Tensor(value)  # stays where it lives: a device mismatch is reported, never copied
    else:
        return as_tensor(value, device=ref.device)
    return Tensor(B.array_module(ref.data).asarray(value, dtype=dtype))


def _check_devices(fn: Function, xs: tuple[Tensor, ...]) -> None:
    if len(xs) < 2:
        return
    first = xs[0].device
    for x in xs[1:]:
        if x.device != first:
            raise DeviceMismatchError(
                f"{fn.name}: inputs are on different devices ({first} and {x.device}); "
                f"move them with .to() first, minidl never copies silently")


def sum_to(gx: Any, shape: tuple[int, ...]) -> Any:
    """Sum a broadcast gradient back down to `shape`."""
    lead = gx.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and gx.shape[lead + i] != 1)
    if axes:
        gx = gx.sum(axis=axes, keepdims=True)
    if lead:
        gx = gx.reshape(shape)
    return gx


_FREED = ("Trying to backward through the graph a second time (or directly access saved "
          "tensors after they have already been freed). Specify retain_graph=True on the "
          "first backward call if you need to backward through the graph again.")


def run_backward(root: Tensor, grad: Any, retain_graph: bool = False) -> None:
    """Backpropagate `grad` from `root` through its graph, newest op first (a heap by generation)."""
    if root.creator is None:
        _accumulate_leaf(root, grad)
        return
    # each tensor's gradient so far, and whether nothing else refers to that array
    pending: dict[int, tuple[Tensor, Any, bool]] = {id(root): (root, grad, False)}
    counter = itertools.count()
    heap = [(-root.creator.generation, next(counter), root.creator)]
    seen = {id(root.creator)}
    while heap:
        fn = heapq.heappop(heap)[2]
        if getattr(fn, "freed", False):
            raise RuntimeError(_FREED)
        fn.check_saved_versions()
        gys, fn.writable_grads = _output_grads(fn, pending)
        fn.retained = retain_graph
        with using(fn.workspace):
            gxs = fn.backward(*gys)
        if not isinstance(gxs, tuple):
            gxs = (gxs,)
        for x, gx, need in zip(fn.inputs, gxs, fn.needs_input_grad):
            if not need or gx is None:
                continue
            fresh = fn.fresh_grads
            if gx.shape != x.shape:
                gx, fresh = sum_to(gx, x.shape), True
            if gx.dtype != x.dtype:
                gx, fresh = gx.astype(x.dtype), True
            if x.creator is None:
                _accumulate_leaf(x, gx, fresh)
                continue
            prev = pending.get(id(x))
            # never accumulate in place: a backward may hand the same array to two inputs
            pending[id(x)] = (x, gx, fresh) if prev is None else (x, prev[1] + gx, True)
            if id(x.creator) not in seen:
                seen.add(id(x.creator))
                heapq.heappush(heap, (-x.creator.generation, next(counter), x.creator))
        if not retain_graph:
            fn.release()


def _output_grads(fn: Function, pending: dict[int, tuple[Tensor, Any, bool]]
                  ) -> tuple[list[Any], tuple[bool, ...]]:
    """The gradients of fn's outputs (for an output nobody used zeros, or None where fn
    does not materialize them), and which of them fn may overwrite."""
    gys, writable = [], []
    for ref, (shape, dtype) in zip(fn.outputs, fn.out_meta):
        out = ref()
        entry = pending.pop(id(out), None) if out is not None else None
        if entry is None and not fn.materialize_grads:
            entry = (out, None, False)
        elif entry is None:
            xp = B.array_module(fn.inputs[0].data)
            entry = (out, xp.zeros(shape, dtype=dtype), True)
        elif isinstance(entry[1], np.generic):
            # NumPy's 0-d arithmetic gives a scalar ((loss * 2)'s backward): an array of its
            # own, so that the kernels' routes, which take arrays, see it as one
            entry = (out, np.asarray(entry[1]), True)
        gys.append(entry[1])
        writable.append(entry[2])
    return gys, tuple(writable)


def _accumulate_leaf(x: Tensor, gx: Any, fresh: bool = False) -> None:
    # unless fresh, gx may be a read-only broadcast view or shared with other tensors (Add
    # hands the same array to both inputs): the first gradient is copied so each .grad
    # owns its array
    if x.grad is None:
        x.grad = Tensor(gx if fresh else gx.copy())
    else:
        x.grad = Tensor(x.grad.data + gx)
