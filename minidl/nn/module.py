"""Module: parameters registered by assignment, nested modules, state dicts."""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from minidl import backend as B
from minidl.autograd.tensor import Tensor


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
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- registration ---------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}: call super().__init__() before assigning attributes")
        params, modules = self.__dict__["_parameters"], self.__dict__["_modules"]
        params.pop(name, None)
        modules.pop(name, None)
        if isinstance(value, Parameter):
            params[name] = value
        elif isinstance(value, Module):
            modules[name] = value
        elif value is None and name in ("weight", "bias"):
            pass  # an absent optional parameter, e.g. bias=False
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        setattr(self, name, param)

    def add_module(self, name: str, module: Module) -> None:
        setattr(self, name, module)

    # ---- calling --------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ---- traversal ------------------------------------------------------------------
    def children(self) -> Iterator[Module]:
        yield from self._modules.values()

    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from self._modules.items()

    def modules(self) -> Iterator[Module]:
        yield self
        for child in self._modules.values():
            yield from child.modules()

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs in registration order, each parameter once."""
        seen: set[int] = set()
        for mod_name, mod in self.named_modules(prefix):
            for name, p in mod._parameters.items():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

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

    def to(self, name: str) -> Module:
        """Move every parameter to a backend, in place; returns the module."""
        backend = B.normalize_backend(name)
        for p in self.parameters():
            p.data = B.to_backend(p.data, backend)
            if p.grad is not None:
                p.grad = Tensor(B.to_backend(p.grad.data, backend))
        return self

    def astype(self, dtype: Any) -> Module:
        """Convert every parameter to `dtype` in place; returns the module."""
        dt = np.dtype(dtype)
        for p in self.parameters():
            p.data = p.data.astype(dt)
            p.grad = None
        return self

    @property
    def device(self) -> str:
        first = next(self.parameters(), None)
        return first.device if first is not None else "cpu"

    # ---- state ----------------------------------------------------------------------
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Dotted name -> NumPy array copy of every parameter, in registration order."""
        return OrderedDict((name, B.to_numpy(p.data).copy()) for name, p in self.named_parameters())

    def load_state_dict(self, state: Any, strict: bool = True) -> IncompatibleKeys:
        """Copy values into the existing parameters (cast to their dtype and device).

        Everything is validated and converted first: a missing or extra key (when strict),
        a shape mismatch (always) or a value that cannot be cast raises and leaves the
        module unchanged. Returns the (missing_keys, unexpected_keys) lists, as PyTorch."""
        own = OrderedDict(self.named_parameters())
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


class Sequential(Module):
    """Layers applied in order; children are named "0", "1", ...; indexable."""

    def __init__(self, *layers: Module) -> None:
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: argument {i} is a {type(layer).__name__}, not a Module")
            setattr(self, str(i), layer)

    def forward(self, x: Any) -> Any:
        for layer in self._modules.values():
            x = layer(x)
        return x

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
