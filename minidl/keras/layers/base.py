"""The base of every Keras layer: names, lazy building from the first input, Keras-layout
weights, configs. A Keras layer is an `nn.Module`: its parameters, `state_dict()` and
`.to()` are minidl's, and the engine trains it like any module.

Shapes carry the batch axis first, None when unknown: (None, 28, 28, 1).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from minidl import backend as B
from minidl.autograd.tensor import Tensor, as_tensor
from minidl.nn.module import Module, Parameter

Shape = tuple[Any, ...]

_name_counts: dict[str, int] = {}


def unique_name(base: str) -> str:
    """Keras's automatic names: "dense", "dense_1", "dense_2", ... per base name."""
    count = _name_counts.get(base, 0)
    _name_counts[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def clear_session() -> None:
    """Start layer and model names from "dense", "sequential" ... again (as Keras)."""
    _name_counts.clear()


def snake_case(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def as_shape(shape: Any, what: str) -> tuple[int | None, ...]:
    """A shape without the batch axis, as a tuple of positive ints (or None)."""
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    try:
        dims = tuple(None if d is None else int(d) for d in shape)
    except TypeError:
        raise TypeError(f"{what} must be a tuple of ints, e.g. (28, 28, 1), got {shape!r}") from None
    if any(d is not None and d < 1 for d in dims):
        raise ValueError(f"{what} must hold positive sizes, got {shape!r}")
    return dims


class InputSpec:
    """What `keras.Input(shape)` returns: the shape of one sample (batch axis left out).
    Put first in a Sequential, it fixes the model's input shape."""

    def __init__(self, shape: Any, batch_size: int | None = None, dtype: Any = None,
                 name: str | None = None) -> None:
        self.shape: Shape = (batch_size,) + as_shape(shape, "Input shape")
        self.dtype = dtype
        self.name = name or unique_name("input_layer")

    def __repr__(self) -> str:
        return f"<Input shape={self.shape}, name={self.name}>"


def Input(shape: Any, batch_size: int | None = None, dtype: Any = None,  # noqa: N802 - Keras's name
          name: str | None = None) -> InputSpec:
    """The input of a model: `keras.Input((28, 28, 1))` (batch axis left out)."""
    return InputSpec(shape, batch_size, dtype, name)


class Layer(Module):
    """A Keras layer. Subclasses implement `build(input_shape)` (create the weights),
    `compute_output_shape(input_shape)` and `forward(x)`; `keras_weights()` lists
    (parameter, axes) pairs: the parameter in Keras's layout after `transpose(axes)`."""

    #: the layer computes in float32 and casts integer and other float inputs to it (Keras
    #: autocasting); Embedding turns this off
    autocast = True
    #: names of weights that never train (BatchNormalization's moving statistics)
    frozen_weights: tuple[str, ...] = ()

    def __init__(self, *, name: str | None = None, input_shape: Any = None, input_dim: Any = None,
                 trainable: bool = True, dtype: Any = None, **unknown: Any) -> None:
        super().__init__()
        if unknown:
            raise TypeError(f"{type(self).__name__}: unexpected argument(s) {', '.join(sorted(unknown))}")
        if dtype not in (None, "float32", np.float32):
            raise ValueError(f"{type(self).__name__}: minidl.keras layers compute in float32, got "
                             f"dtype={dtype!r}")
        self.name = name or unique_name(snake_case(type(self).__name__))
        if input_shape is None and input_dim is not None:
            input_shape = (input_dim,)
        self.declared_input: Shape | None = (
            None if input_shape is None else (None,) + as_shape(input_shape, "input_shape"))
        self.built = False
        self.build_shape: Shape | None = None
        self.output_shape_built: Shape | None = None
        self._trainable = bool(trainable)
        object.__setattr__(self, "training", False)  # Keras layers run in inference mode outside fit

    # ---- building -------------------------------------------------------------------
    def build(self, input_shape: Shape) -> None:
        """Create the weights for inputs of `input_shape` (batch axis first)."""

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def build_for(self, input_shape: Shape) -> Shape:
        """Build once (later calls check nothing here) and return the output shape."""
        input_shape = tuple(input_shape)
        if not self.built:
            self.build(input_shape)
            self.build_shape = input_shape
            self.output_shape_built = self.compute_output_shape(input_shape)
            self.built = True
            if not self._trainable:
                self.trainable = False
        return self.compute_output_shape(input_shape)

    def add_weight(self, name: str, shape: Shape, initializer: Callable[..., Any],
                   fans: tuple[int, int] = (1, 1), trainable: bool = True) -> Parameter:
        """A float32 Parameter on the default backend, filled by `initializer(p, fans)` and
        registered under `name`."""
        xp = B.module_for(B.get_backend())
        p = Parameter(xp.zeros(tuple(shape), dtype=np.float32), requires_grad=trainable)
        initializer(p, fans)
        setattr(self, name, p)
        return p

    # ---- calling --------------------------------------------------------------------
    def __call__(self, x: Any, training: bool | None = None) -> Any:
        x = self._prepare(x)
        if not self.built:
            self.build_for(tuple(x.shape))
            self._follow_device(x)
            x = self._prepare(x)  # now in the new weights' dtype
        if training is None or bool(training) == self.training:
            return self.forward(x)
        mode = self.training
        self.train(bool(training))
        try:
            return self.forward(x)
        finally:
            self.train(mode)

    def _prepare(self, x: Any) -> Tensor:
        """x as a Tensor in the layer's compute dtype: its weights' dtype (float32 unless the
        layer was converted with .astype), float32 for integer data."""
        x = x if isinstance(x, Tensor) else as_tensor(np.asarray(x) if not B.is_array(x) else x)
        if not self.autocast or x.dtype.kind not in "fiub":
            return x
        first = next(self.parameters(), None)
        dtype = first.dtype if first is not None else (x.dtype if x.dtype.kind == "f" else np.float32)
        return x if x.dtype == dtype else x.astype(dtype)

    def _follow_device(self, x: Tensor) -> None:
        """Weights built lazily go where the data is (a model moved to the GPU before it
        was built)."""
        for p in self.parameters():
            if p.device != x.device:
                p.data = B.to_backend(p.data, B.backend_of_device(x.device))

    def call(self, x: Any) -> Any:
        """Keras's name for the computation: `forward`."""
        return self.forward(x)

    # ---- weights --------------------------------------------------------------------
    def keras_weights(self) -> list[tuple[Parameter, tuple[int, ...] | None]]:
        return []

    @property
    def weights(self) -> list[Parameter]:
        return [p for p, _ in self.keras_weights()]

    @property
    def trainable_weights(self) -> list[Parameter]:
        return [p for p in self.weights if p.requires_grad]

    @property
    def non_trainable_weights(self) -> list[Parameter]:
        return [p for p in self.weights if not p.requires_grad]

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        """Freeze (False) or unfreeze the layer's weights; frozen weights get no gradient.
        (Moving statistics, such as BatchNormalization's, stay non-trainable.)"""
        self._trainable = bool(value)
        for name, p in self.named_parameters():
            if name not in self.frozen_weights:
                p.requires_grad = self._trainable

    def get_weights(self) -> list[np.ndarray]:
        """The weights as NumPy arrays in Keras's layouts and order."""
        return [_to_keras(p, axes) for p, axes in self.keras_weights()]

    def set_weights(self, weights: list[Any]) -> None:
        """Load arrays in Keras's layouts (as from Keras's get_weights); every shape is
        checked before anything changes."""
        for p, value in self.staged_weights(list(weights)):
            p.data = value

    def staged_weights(self, weights: list[Any]) -> list[tuple[Parameter, Any]]:
        """(parameter, new array) pairs for `weights`, all checked; nothing is changed."""
        slots = self.keras_weights()
        if len(weights) != len(slots):
            raise ValueError(f"{type(self).__name__} '{self.name}': set_weights expects a list of "
                             f"{len(slots)} arrays, got {len(weights)}"
                             + ("" if self.built else " (the layer is not built yet)"))
        return [self._staged(p, axes, w, i) for i, ((p, axes), w) in enumerate(zip(slots, weights))]

    def _staged(self, p: Parameter, axes: tuple[int, ...] | None, w: Any, i: int) -> tuple[Parameter, Any]:
        w = B.to_numpy(w.data if isinstance(w, Tensor) else w) if not isinstance(w, np.ndarray) else w
        want = tuple(_to_keras(p, axes).shape)
        if tuple(np.shape(w)) != want:
            raise ValueError(f"{type(self).__name__} '{self.name}': weight {i} has shape {want} in "
                             f"Keras's layout, got an array of shape {tuple(np.shape(w))}"
                             + _layout_hint(want, tuple(np.shape(w))))
        value = np.asarray(w, dtype=p.dtype)
        if axes is not None:
            value = value.transpose(np.argsort(axes))
        value = B.to_backend(np.ascontiguousarray(value), B.backend_of_device(p.device))
        return p, value

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(f"{type(self).__name__} '{self.name}' is not built yet, so it has no "
                             f"weights to count: call it on data or give it an input_shape")
        return sum(p.size for p in self.weights)

    # ---- configs --------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (Keras's names) that rebuild this layer."""
        return {"name": self.name, "trainable": self._trainable}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}"


def _to_keras(p: Parameter, axes: tuple[int, ...] | None) -> np.ndarray:
    value = B.to_numpy(p.data)
    return value.copy() if axes is None else np.ascontiguousarray(value.transpose(axes))


def _layout_hint(want: tuple[int, ...], got: tuple[int, ...]) -> str:
    if len(want) == 4 and got == (want[3], want[2], want[0], want[1]):
        return (" (that is PyTorch's / nn.Conv2D's (filters, in, kH, kW) layout; Keras's is "
                "(kH, kW, in, filters): transpose it with w.transpose(2, 3, 1, 0))")
    if len(want) == 2 and got == want[::-1]:
        return " (transposed? Keras's Dense kernel is (in, units), PyTorch's Linear weight (units, in))"
    return ""
