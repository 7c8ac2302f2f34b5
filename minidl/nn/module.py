"""Module: parameters registered by assignment, nested modules, state dicts."""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from minidl import backend as B
from minidl.autograd.tensor import Tensor, as_tensor
from minidl.kernels._workspace import Workspace, using
from minidl.kernels._workspace import current as current_workspace


class IncompatibleKeys(NamedTuple):
    """What `load_state_dict(strict=False)` skipped."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Parameter(Tensor):
    """A Tensor that requires grad and registers itself when assigned to a Module.

    `fan_layout` tells `nn.init` how to read fans from the shape: None/"out_in" for
    (out, in, *kernel) weights as PyTorch's, "in_out" for minidl's transposed (in, out)
    Dense and LSTM weights.
    """

    __slots__ = ("fan_layout",)

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        if isinstance(data, Tensor):
            data = data.data
        super().__init__(data, requires_grad=requires_grad)
        self.fan_layout: str | None = None

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of every layer and model. Subclasses define `forward`."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        # scratch arrays of the kernels this module runs when called as the outermost
        # module, reused step after step (minidl/kernels/_workspace.py); freed with it
        object.__setattr__(self, "_workspace", Workspace())

    # ---- registration ---------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}: call super().__init__() before assigning attributes")
        params, modules = self.__dict__["_parameters"], self.__dict__["_modules"]
        buffers = self.__dict__["_buffers"]
        if name in buffers and not isinstance(value, (Parameter, Module)):
            # assigning to a buffer's name sets the buffer, as PyTorch
            value = buffers[name] = None if value is None else _as_buffer(type(self).__name__, name, value)
            object.__setattr__(self, name, value)
            return
        params.pop(name, None)
        modules.pop(name, None)
        buffers.pop(name, None)
        if isinstance(value, Parameter):
            params[name] = value
        elif isinstance(value, Module):
            modules[name] = value
        elif value is None and name in ("weight", "bias"):
            pass  # an absent optional parameter, e.g. bias=False
        object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # only reached when ordinary lookup fails: children that containers keep out of
        # __dict__ (a ModuleDict key may be "keys" or "items")
        for store in ("_parameters", "_buffers", "_modules"):
            found = self.__dict__.get(store)
            if found is not None and name in found:
                return found[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._buffers.pop(name, None)
        self._non_persistent.discard(name)
        self._modules.pop(name, None)
        if name in self.__dict__:
            object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        setattr(self, name, param)

    def add_module(self, name: str, module: Module | None) -> None:
        setattr(self, _checked_name(type(self).__name__, name), module)

    def register_buffer(self, name: str, tensor: Any, persistent: bool = True) -> None:
        """Register `tensor` (a Tensor, an array, or None) as state that is not a parameter:
        it is in `state_dict()` (unless `persistent=False`), moved by `.to()` and cast by
        `.float()`/`.double()` when floating, never returned by `parameters()`."""
        owner = type(self).__name__
        _checked_name(owner, name)
        if name in self.__dict__ and name not in self._buffers:
            raise KeyError(f"{owner}.register_buffer: attribute {name!r} already exists")
        value = None if tensor is None else _as_buffer(owner, name, tensor)
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self._buffers[name] = value
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)
        object.__setattr__(self, name, value)

    # ---- calling --------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def _fused_forward(self, following: Sequence[Module]) -> tuple[Callable[[Any], Any], int] | None:
        """(fn, k): this layer and the first k `following` it as one op, for nn.Sequential (a
        layer that can fuse with what follows it overrides this); None: each runs on its own."""
        return None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        workspace = self.__dict__.get("_workspace")
        if workspace is None or current_workspace() is not None:
            return self.forward(*args, **kwargs)  # inside a model: its workspace serves
        workspace.new_call()
        with using(workspace):
            return self.forward(*args, **kwargs)

    # ---- traversal ------------------------------------------------------------------
    def children(self) -> Iterator[Module]:
        for _, child in self.named_children():
            yield child

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen: set[int] = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """(dotted name, module) pairs, this module first, then its children's subtrees in
        order; a module reachable twice is listed once (as PyTorch)."""
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            name, m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            yield name, m
            kids = [(f"{name}.{k}" if name else k, c) for k, c in m._modules.items() if c is not None]
            stack.extend(reversed(kids))

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs in registration order, each parameter once."""
        yield from self._named_entries(prefix, ("_parameters",))

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """(dotted name, buffer Tensor) pairs in registration order, each buffer once."""
        yield from self._named_entries(prefix, ("_buffers",))

    def buffers(self) -> Iterator[Tensor]:
        for _, b in self.named_buffers():
            yield b

    def _named_entries(self, prefix: str, stores: tuple[str, ...],
                       persistent_only: bool = False) -> Iterator[tuple[str, Tensor]]:
        """Each module's own entries of `stores` in order, module by module (PyTorch's
        state_dict order: a module's parameters, then its buffers, then its children's)."""
        seen: set[int] = set()
        for mod_name, mod in self.named_modules(prefix):
            for store in stores:
                for name, t in getattr(mod, store).items():
                    if t is None or id(t) in seen:
                        continue
                    if persistent_only and store == "_buffers" and name in mod._non_persistent:
                        continue
                    seen.add(id(t))
                    yield (f"{mod_name}.{name}" if mod_name else name), t

    def _state_entries(self) -> OrderedDict[str, Tensor]:
        return OrderedDict(self._named_entries("", ("_parameters", "_buffers"), persistent_only=True))

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call `fn` on every submodule (children first) and then on this module, as
        PyTorch's (e.g. to initialise weights); returns the module."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ---- modes, devices, dtypes -----------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def to(self, *args: Any, device: Any = None, dtype: Any = None) -> Module:
        """Move parameters and buffers in place to a device ("cpu", "cuda", "cuda:0", or a
        backend name) and/or cast the floating ones to a floating dtype, as PyTorch's
        `to(device)`, `to(dtype)`, `to(device, dtype)`; returns the module."""
        for arg in args:
            if _is_device(arg):
                device = arg if device is None else _twice("device", device, arg)
            else:
                dtype = arg if dtype is None else _twice("dtype", dtype, arg)
        if dtype is not None:
            self.astype(dtype)
        if device is not None:
            self._move(_parse_device(device))
        return self

    def _move(self, backend: str) -> None:
        for p in self.parameters():
            p.data = B.to_backend(p.data, backend)
            if p.grad is not None:
                p.grad = Tensor(B.to_backend(p.grad.data, backend))
        for b in self.buffers():
            b.data = B.to_backend(b.data, backend)

    def cuda(self, device: Any = None) -> Module:
        """`to("cuda")`; `device` may be None, 0 or "cuda:0"."""
        if device is not None and not (isinstance(device, int) and device == 0):
            _parse_device(device if isinstance(device, str) else f"cuda:{device}")
        return self.to("cuda")

    def cpu(self) -> Module:
        return self.to("cpu")

    def float(self) -> Module:
        """Cast floating parameters and buffers to float32; returns the module."""
        return self.astype("float32")

    def double(self) -> Module:
        """Cast floating parameters and buffers to float64; returns the module."""
        return self.astype("float64")

    def astype(self, dtype: Any) -> Module:
        """Convert every parameter and floating buffer to the floating `dtype` in place
        (integer buffers stay integer); returns the module. A non-floating dtype raises
        TypeError: weights cast to integers would be truncated."""
        dt = _float_dtype(type(self).__name__, dtype)
        for p in self.parameters():
            p.data = p.data.astype(dt)
            p.grad = None
        for b in self.buffers():
            if b.dtype.kind == "f":
                b.data = b.data.astype(dt)
        return self

    @property
    def device(self) -> str:
        first = next(self.parameters(), None)
        if first is None:
            first = next(self.buffers(), None)
        return first.device if first is not None else "cpu"

    # ---- state ----------------------------------------------------------------------
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Dotted name -> NumPy array copy of every parameter and persistent buffer, in
        PyTorch's order (a module's parameters, then its buffers, then its children's)."""
        return OrderedDict((name, B.to_numpy(t.data).copy()) for name, t in self._state_entries().items())

    def load_state_dict(self, state: Any, strict: bool = True) -> IncompatibleKeys:
        """Copy values into the existing parameters and buffers (cast to their dtype and
        device).

        Everything is validated and converted first: a missing or extra key (when strict),
        a shape mismatch (always) or a value that cannot be cast raises and leaves the
        module unchanged. Returns the (missing_keys, unexpected_keys) lists, as PyTorch."""
        own = self._state_entries()
        missing = [k for k in own if k not in state]
        extra = [k for k in state if k not in own]
        where = f"{type(self).__name__}.load_state_dict"
        if strict and (missing or extra):
            raise KeyError(f"{where}: missing keys {missing}, unexpected keys {extra}")
        staged = []
        for name, p in own.items():
            if name not in state:
                continue
            value = state[name]
            value = value.data if isinstance(value, Tensor) else value
            shape = tuple(value.shape) if B.is_array(value) else tuple(np.shape(value))
            if shape != tuple(p.shape):
                raise ValueError(f"{where}: {name!r} has shape {shape} in the state dict but "
                                 f"{tuple(p.shape)} in the model")
            try:
                arr = B.to_backend(value if B.is_array(value) else np.asarray(value),
                                   B.backend_of_device(p.device))
                staged.append((p, B.array_module(arr).array(arr, dtype=p.dtype, copy=True)))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{where}: {name!r} cannot be converted to {p.dtype}: {exc}") from exc
        for p, arr in staged:  # nothing is changed until every key has passed
            p.data = arr
            if isinstance(p, Parameter):
                p.grad = None
        return IncompatibleKeys(missing, extra)

    def summary(self, input_shape: Any = None, dtype: Any = "float32",
                print_fn: Callable[[str], Any] = print) -> None:
        """Print a Keras-like table of layers, output shapes and parameter counts
        (see `minidl.nn.summary.summary`); output shapes need `input_shape` (batch axis included)."""
        from minidl.nn.summary import summary  # noqa: PLC0415 - summary imports this module

        summary(self, input_shape, dtype, print_fn)

    # ---- display --------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr; by default the shapes of
        its own parameters (layers override it with their constructor arguments)."""
        return ", ".join(f"{name}={tuple(p.shape)}" for name, p in self._parameters.items())

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        if not self._modules:
            return lines[0] + ")"
        for name, child in self._modules.items():
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"


def _checked_name(owner: str, name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError(f"{owner}: a module or buffer name must be a str, got {type(name).__name__}")
    if not name or "." in name:
        raise KeyError(f"{owner}: a module or buffer name must be non-empty and contain no '.', "
                       f"got {name!r}")
    return name


def _as_buffer(owner: str, name: str, value: Any) -> Tensor:
    """A buffer is a Tensor without gradient: Tensors are kept, arrays wrapped (no copy)."""
    if isinstance(value, Parameter):
        raise TypeError(f"{owner}: buffer {name!r} cannot be a Parameter; assign it as a parameter")
    if isinstance(value, Tensor):
        return value
    if B.is_array(value):
        return Tensor(value if getattr(value, "ndim", 0) else np.asarray(value))
    try:
        return Tensor(np.asarray(value))
    except Exception as exc:
        raise TypeError(f"{owner}: buffer {name!r} must be a Tensor or an array, got "
                        f"{type(value).__name__}") from exc


def _float_dtype(owner: str, dtype: Any) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"{owner}: unknown dtype {dtype!r}: expected a floating dtype such as "
                        f"'float32' or 'float64'") from exc
    if dt.kind != "f":
        raise TypeError(f"{owner}: parameters can only be cast to a floating dtype (float32, "
                        f"float64), got {dt}; integer weights would be truncated")
    return dt


def _is_device(value: Any) -> bool:
    """True for a device or backend name ("cpu", "cuda", "cuda:0", "numpy", ...)."""
    if not isinstance(value, str):
        return False
    try:
        B.normalize_backend(value.partition(":")[0])
    except ValueError:
        return False
    return True


def _parse_device(device: Any) -> str:
    """The backend ("numpy" or "cupy") of a device name; "cuda:0" is device 0."""
    text = str(device)
    name, sep, index = text.partition(":")
    backend = B.normalize_backend(name)
    if sep:
        if backend != "cupy" or not index.isdigit():
            raise ValueError(f"unknown device {text!r}: expected 'cpu', 'cuda' or 'cuda:0'")
        if int(index) != 0:
            raise ValueError(f"device {text!r}: minidl places data on the current CUDA device; "
                             f"select GPU {index} with cupy.cuda.Device({index}).use() and pass 'cuda'")
    return backend


def _twice(what: str, first: Any, second: Any) -> Any:
    raise TypeError(f"Module.to: {what} given twice ({first!r} and {second!r})")


def floating_input(layer: str, x: Any, dtype: np.dtype) -> Tensor:
    """x as a Tensor in the layer's parameter dtype `dtype`.

    Floating input of another precision is cast (differentiably), as Keras does, so
    float64 data fed to a float32 model computes in float32; integer or bool input
    raises TypeError naming the layer (ids belong in an Embedding)."""
    x = as_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{layer}: expected floating-point input, got dtype {x.dtype} "
                        f"(convert it with .astype('float32'); integer ids go through an Embedding)")
    return x if x.dtype == dtype else x.astype(dtype)


class Sequential(Module):
    """Layers applied in order; children are named "0", "1", ...; indexable.

    Takes the layers as arguments, as one list, or as an OrderedDict of name -> layer.
    An exception raised inside a layer names its position and type ("layer 3 (Conv2D):
    ..."), keeping its type; the original is chained as the cause.
    """

    def __init__(self, *layers: Any) -> None:
        super().__init__()
        named: list[tuple[str, Any]]
        if len(layers) == 1 and isinstance(layers[0], OrderedDict):
            named = [(_checked_name("Sequential", k), v) for k, v in layers[0].items()]
        else:
            if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
                layers = tuple(layers[0])
            named = [(str(i), layer) for i, layer in enumerate(layers)]
        for i, (name, layer) in enumerate(named):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: argument {i} is a {type(layer).__name__}, not a Module")
            setattr(self, name, layer)

    def forward(self, x: Any) -> Any:
        layers = list(self._modules.values())
        i = 0
        while i < len(layers):
            fused = layers[i]._fused_forward(layers[i + 1:i + 3]) if i + 1 < len(layers) else None
            if fused is None:
                x = self._run_layer(i, layers[i], x)
                i += 1
                continue
            try:
                x = fused[0](x)
            except Exception:
                # run the fused layers one by one (they keep no state), so that a bad input
                # is named at the layer it belongs to; if they all pass, the fused op's own
                # failure is raised as it is
                y = x
                for j in range(i, i + 1 + fused[1]):
                    y = self._run_layer(j, layers[j], y)
                raise
            i += 1 + fused[1]
        return x

    @staticmethod
    def _run_layer(i: int, layer: Module, x: Any) -> Any:
        try:
            return layer(x)
        except Exception as exc:
            renamed = _at_layer(exc, i, layer)
            if renamed is exc:
                raise
            raise renamed from exc

    def __getitem__(self, index: int | slice) -> Any:
        layers = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*layers[index])
        return layers[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, layer: Module) -> Sequential:
        setattr(self, str(len(self)), layer)
        return self

    # ---- Keras-style training: thin wrappers over minidl.training -------------------
    def compile(self, optimizer: Any, loss: Any, metrics: Any = ("accuracy",)) -> None:
        """Fix optimizer, loss and metrics for fit/evaluate (see minidl.training.compile)."""
        from minidl import training  # noqa: PLC0415 - training imports data, which imports Tensor

        training.compile(self, optimizer, loss, metrics)

    def fit(self, x: Any, y: Any, *args: Any, epochs: int = 1, batch_size: int = 32, verbose: Any = 1,
            callbacks: Any = None, validation_split: float = 0.0, validation_data: Any = None,
            shuffle: bool = True, initial_epoch: int = 0) -> Any:
        """Train on (x, y); returns a History (see minidl.training.fit). Every argument after
        y is keyword-only: a positional one raises TypeError saying to pass it by name."""
        from minidl import training  # noqa: PLC0415

        return training.fit(self, x, y, *args, epochs=epochs, batch_size=batch_size, verbose=verbose,
                            callbacks=callbacks, validation_split=validation_split,
                            validation_data=validation_data, shuffle=shuffle, initial_epoch=initial_epoch)

    def evaluate(self, x: Any, y: Any, batch_size: int = 256) -> tuple[float, float | None]:
        """(loss, accuracy) on (x, y) in eval mode (see minidl.training.evaluate)."""
        from minidl import training  # noqa: PLC0415

        return training.evaluate(self, x, y, batch_size)

    def predict(self, x: Any, batch_size: int = 256) -> np.ndarray:
        """Outputs for every row of x as a NumPy array (see minidl.training.predict)."""
        from minidl import training  # noqa: PLC0415

        return training.predict(self, x, batch_size)


def _at_layer(exc: Exception, index: int, layer: Module) -> Exception:
    """`exc` again, its message prefixed with the layer's position and type; the same
    exception type. A type that cannot be rebuilt from one message keeps its own
    object, with the position added as a note."""
    where = f"layer {index} ({type(layer).__name__})"
    try:
        renamed = type(exc)(f"{where}: {exc}")
    except Exception:
        renamed = None
    if type(renamed) is not type(exc):
        exc.add_note(f"raised in {where} of a Sequential")
        return exc
    return renamed
