"""Keras's models: `Sequential`, `Model` (to subclass), `load_model`, `model_from_json`.

compile/fit/evaluate/predict hand over to minidl's one training engine (minidl.training),
the same loop `nn.Sequential.fit` runs; what is Keras-only here is the model's side:
building from the first data, input checks with Keras users' mistakes in mind,
Keras-layout weights, the summary and saving.
"""
from __future__ import annotations

import json
import os
import warnings
from typing import Any

import numpy as np

from minidl import backend as B
from minidl import nn, serialization, training
from minidl.autograd import no_grad
from minidl.autograd.tensor import Tensor
from minidl.keras import activations, optimizers, summary
from minidl.keras import layers as layer_module
from minidl.keras.layers.base import InputSpec, Layer, Shape
from minidl.keras.layers.conv import channels_first_hint

MODEL_FORMAT = "minidl.keras.model"
WEIGHTS_FORMAT = "minidl.keras.weights"
_FIT_EXTRAS = {"class_weight": None, "sample_weight": None, "steps_per_epoch": None,
               "validation_steps": None, "validation_batch_size": None, "validation_freq": 1}


class Model(Layer):
    """A Keras model: layers plus compile/fit/evaluate/predict, summary and saving.

    Subclass it and define `call(self, inputs)` with layers assigned in `__init__` (Keras's
    subclassing API), or use `Sequential`."""

    autocast = False  # its layers cast their own inputs (an Embedding wants integers)

    def __init__(self, *, name: str | None = None, trainable: bool = True, **kwargs: Any) -> None:
        super().__init__(name=name, trainable=trainable, **kwargs)
        self.optimizer: Any = None
        self.history: Any = None
        self.stop_training = False
        self._compile_config: dict[str, Any] | None = None

    def call(self, inputs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}: a subclass of keras.Model defines "
                                  f"call(self, inputs) (or use keras.Sequential)")

    def forward(self, x: Any) -> Any:
        return self.call(x)

    def __call__(self, x: Any, training: bool | None = None) -> Any:
        x = self._prepare(x)
        self._check_input(tuple(x.shape))
        return super().__call__(x, training=training)

    # ---- structure ------------------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        return [m for m in self._modules.values() if isinstance(m, Layer)]

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"no layer named {name!r}; the layers are "
                         f"{', '.join(l.name for l in self.layers)}")

    def keras_weights(self) -> list[tuple[Any, Any]]:
        return [pair for layer in self.layers for pair in layer.keras_weights()]

    def staged_weights(self, weights: list[Any]) -> list[tuple[Any, Any]]:
        expected = sum(len(layer.keras_weights()) for layer in self.layers)
        if len(weights) != expected:
            raise ValueError(f"{type(self).__name__} '{self.name}': set_weights expects a list of "
                             f"{expected} arrays (the weights of every layer, in order), got "
                             f"{len(weights)}" + ("" if self.built else " (the model is not built yet)"))
        staged, start = [], 0
        for layer in self.layers:
            n = len(layer.keras_weights())
            staged += layer.staged_weights(weights[start:start + n])
            start += n
        return staged

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(f"{type(self).__name__} '{self.name}' is not built yet: call it on data, "
                             f"fit it, or give its first layer an input_shape (or start with keras.Input)")
        return sum(p.size for p in self.weights)

    def summary(self, line_length: int | None = None, positions: Any = None, print_fn: Any = None,
                expand_nested: bool = False, show_trainable: bool = False, layer_range: Any = None) -> None:
        """Print Keras's table: layer (type), output shape, parameter count, and the totals.
        `positions`: the columns' right edges as fractions of the line (Keras's default
        [0.45, 0.80, 1.0])."""
        _refuse_extras("summary", {"expand_nested": expand_nested, "show_trainable": show_trainable,
                                   "layer_range": layer_range},
                       {"expand_nested": False, "show_trainable": False, "layer_range": None})
        summary.print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn)

    # ---- inputs ---------------------------------------------------------------------
    @property
    def input_shape(self) -> Shape | None:
        return None

    def _check_input(self, shape: tuple[int, ...]) -> None:
        """Raise naming both shapes when data does not fit the model's declared input."""
        expected = self.input_shape
        if expected is None:
            return
        if len(shape) == len(expected) and all(e is None or e == g for e, g in zip(expected[1:], shape[1:])):
            return
        hint = ""
        if len(expected) == 4 and len(shape) == 4 and tuple(shape[1:]) == (expected[3],) + tuple(expected[1:3]):
            hint = channels_first_hint((None,) + tuple(shape[1:]))
        elif len(shape) == len(expected) - 1 and expected[-1] == 1 and tuple(shape[1:]) == tuple(expected[1:-1]):
            hint = ". Add the channel axis: x[..., None] (or x.reshape(-1, " + ", ".join(
                str(d) for d in expected[1:]) + "))"
        raise ValueError(f"{type(self).__name__} '{self.name}' expects inputs of shape "
                         f"{_shape_text(expected)}, got data of shape {tuple(shape)}{hint}")

    def _as_data(self, x: Any, what: str) -> Any:
        if x is None:
            raise ValueError(f"{what}: no input data; pass x (and y) as NumPy arrays")
        data = x.data if isinstance(x, Tensor) else x
        if not B.is_array(data):
            data = np.asarray(data)
        if data.ndim == 0 or len(data) == 0:
            raise ValueError(f"{what}: x has no samples (shape {tuple(data.shape)})")
        self._check_input(tuple(data.shape))
        return data

    def _ensure_built(self, x: Any, batch_size: int) -> None:
        """Build from the first batch (Keras's symbolic build), and the optimizer after."""
        if not self.built or any(not layer.built for layer in self.layers):
            first = x[:batch_size]
            was_training = self.training
            self.eval()
            try:
                with no_grad():
                    self(first)
            finally:
                self.train(was_training)
        if self.optimizer is not None and not getattr(self.optimizer, "built", True):
            self.optimizer.build(list(self.parameters()))

    # ---- training -------------------------------------------------------------------
    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, metrics: Any = None,
                loss_weights: Any = None, weighted_metrics: Any = None, run_eagerly: bool = False,
                steps_per_execution: int = 1, jit_compile: Any = "auto", auto_scale_loss: bool = True) -> None:
        """Fix the optimizer (name or object), the loss (name, object or fn(y_true, y_pred))
        and the metrics ("accuracy", "mae", "mse", or objects) for fit and evaluate."""
        if loss is None:
            raise ValueError("compile: no loss to compute; pass loss=, e.g. "
                             "'sparse_categorical_crossentropy'")
        if loss_weights is not None or weighted_metrics is not None or steps_per_execution != 1:
            raise ValueError("compile: loss_weights, weighted_metrics and steps_per_execution are not "
                             "supported by minidl.keras")
        self.optimizer = optimizers.get(optimizer)
        training.compile(self, self.optimizer, loss, metrics, keras=True)
        self._compile_config = _compile_config(self)

    @property
    def compiled(self) -> bool:
        return "_compiled" in self.__dict__

    def _require_compiled(self, what: str) -> None:
        if not self.compiled:
            raise RuntimeError(f"You must call compile() before using the model ({what})")

    def fit(self, x: Any = None, y: Any = None, batch_size: int | None = 32, epochs: int = 1,
            verbose: Any = 1, callbacks: Any = None, validation_split: float = 0.0,
            validation_data: Any = None, shuffle: bool = True, initial_epoch: int = 0,
            **extras: Any) -> training.History:
        """Train on (x, y) for `epochs` (from `initial_epoch`); returns the History. As Keras:
        batch_size 32, validation_split takes the last fraction before shuffling, verbose
        1 (bar) / 2 (a line per epoch) / 0, callbacks with Keras's hooks."""
        _refuse_extras("fit", extras, _FIT_EXTRAS)
        self._require_compiled("fit")
        batch_size = _batch_size(batch_size)
        x = self._as_data(x, "fit")
        if isinstance(validation_data, (tuple, list)) and validation_data:
            validation_data = (self._as_data(validation_data[0], "fit validation_data"),
                               *validation_data[1:])
        self._ensure_built(x, batch_size)
        return training.fit(self, x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                            callbacks=callbacks, validation_split=validation_split,
                            validation_data=validation_data, shuffle=shuffle,
                            initial_epoch=initial_epoch)

    def evaluate(self, x: Any = None, y: Any = None, batch_size: int | None = 32,
                 verbose: Any = 1, sample_weight: Any = None, steps: Any = None,
                 callbacks: Any = None, return_dict: bool = False) -> Any:
        """The loss (a float), or [loss, metric, ...] in compile's order when metrics were
        compiled (a dict with return_dict=True), over (x, y) in inference mode."""
        _refuse_extras("evaluate", {"sample_weight": sample_weight, "steps": steps},
                       {"sample_weight": None, "steps": None})
        self._require_compiled("evaluate")
        batch_size = _batch_size(batch_size)
        x = self._as_data(x, "evaluate")
        self._ensure_built(x, batch_size)
        logs = training.evaluate_logs(self, x, y, batch_size=batch_size, verbose=verbose,
                                      callbacks=callbacks)
        if return_dict:
            return logs
        values = [logs["loss"]] + [logs[m.name] for m in training._compiled(self, "evaluate").metrics]
        return values[0] if len(values) == 1 else values

    def predict(self, x: Any, batch_size: int | None = 32, verbose: Any = 1, steps: Any = None,
                callbacks: Any = None) -> np.ndarray:
        """The outputs for every sample of x, as one NumPy array (inference mode)."""
        _refuse_extras("predict", {"steps": steps}, {"steps": None})
        batch_size = _batch_size(batch_size)
        x = self._as_data(x, "predict")
        self._ensure_built(x, batch_size)
        return training.predict(self, x, batch_size, verbose=verbose, callbacks=callbacks)

    # ---- saving ---------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__}: only Sequential models can be saved with "
                                  f"their architecture; use save_weights/load_weights")

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps({"class_name": type(self).__name__, "config": self.get_config()}, **kwargs)

    def save(self, filepath: Any, overwrite: bool = True, **kwargs: Any) -> None:
        """The architecture, the weights, the compile settings and the optimizer's state in
        one file of minidl's safe .npz format (no pickle); `keras.models.load_model` reads it."""
        save_model(self, filepath, overwrite)

    def save_weights(self, filepath: Any, overwrite: bool = True) -> None:
        """The weights in Keras's layouts and order, in minidl's .npz format."""
        _check_overwrite(filepath, overwrite)
        serialization.save({"format": WEIGHTS_FORMAT, "version": 1, "weights": self.get_weights()},
                           filepath)

    def load_weights(self, filepath: Any, skip_mismatch: bool = False) -> None:
        """Weights written by save_weights (or save) into this built model."""
        if skip_mismatch:
            raise ValueError("load_weights: skip_mismatch=True is not supported by minidl.keras")
        state = _read(filepath, (WEIGHTS_FORMAT, MODEL_FORMAT))
        if not self.built:
            raise ValueError(f"load_weights: build the model first (call it on data, or give its first "
                             f"layer an input_shape) so it has weights to load into")
        self.set_weights(list(state["weights"]))


class Sequential(Model):
    """A plain stack of layers, each fed the previous one's output: Keras's Sequential.

    `Sequential([layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
    ...])`, or `Sequential()` then `.add(layer)`. Layers are built as soon as the input
    shape is known (from `keras.Input`, a first layer's `input_shape`, or the first data)."""

    def __init__(self, layers: Any = None, trainable: bool = True, name: str | None = None) -> None:
        super().__init__(name=name, trainable=trainable)
        self._declared: Shape | None = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: Any) -> None:
        if isinstance(layer, InputSpec):
            if self.layers:
                raise ValueError("Sequential.add: keras.Input must come first, before any layer")
            self._declared = layer.shape
            return
        if not isinstance(layer, Layer):
            what = type(layer).__name__
            hint = (" (minidl.nn layers are PyTorch-style and channels-first; use "
                    f"minidl.keras.layers.{what.replace('MaxPool2D', 'MaxPooling2D')} here)"
                    if isinstance(layer, nn.Module) else "")
            raise TypeError(f"Sequential.add: expected a keras layer, got {what}{hint}")
        if not self.layers and self._declared is None and layer.declared_input is not None:
            self._declared = layer.declared_input
        setattr(self, str(len(self._modules)), layer)
        layer.train(self.training)
        self.built = False
        if self._declared is not None:
            self.build(self._declared)

    def pop(self) -> Layer:
        if not self.layers:
            raise ValueError("Sequential.pop: there are no layers to remove")
        key = next(reversed(self._modules))
        layer = self._modules[key]
        delattr(self, key)
        return layer

    def build(self, input_shape: Shape | None = None) -> None:
        """Build every layer for inputs of `input_shape` (batch axis included)."""
        if input_shape is None:
            input_shape = self._declared
        if input_shape is None:
            raise ValueError("Sequential.build: give the input shape, e.g. build((None, 28, 28, 1))")
        shape = tuple(input_shape)
        self._declared = self._declared or (None,) + shape[1:]
        for layer in self.layers:
            shape = layer.build_for(shape)
        self.build_shape, self.output_shape_built, self.built = tuple(input_shape), shape, True

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = layer.compute_output_shape(shape)
        return shape

    def forward(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer(x)
        return x

    @property
    def input_shape(self) -> Shape | None:
        return self._declared

    @property
    def output_shape(self) -> Shape | None:
        return self.output_shape_built

    def output_head(self) -> tuple[str, Any, Any] | None:
        """("softmax" | "sigmoid", x -> logits, logits -> outputs) when the last layer ends in
        that activation: the engine then computes cross-entropy from the logits."""
        stack = self.layers
        if not stack or not hasattr(stack[-1], "pre_activation"):
            return None
        last = stack[-1]
        kind = {activations.softmax: "softmax", activations.sigmoid: "sigmoid"}.get(last.activation)
        if kind is None:
            return None

        def logits(x: Any) -> Tensor:
            for layer in stack[:-1]:
                x = layer(x)
            return last.pre_activation(last._prepare(x))
        return kind, logits, last.activation

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "trainable": self._trainable,
                "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()}
                           for layer in self.layers],
                "build_input_shape": None if self._declared is None else list(self._declared)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Sequential:
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for spec in config["layers"]:
            kind = cls if spec["class_name"] == "Sequential" else layer_module.get(spec["class_name"])
            model.add(kind.from_config(dict(spec["config"])))
        shape = config.get("build_input_shape")
        if shape is not None:
            model.build(tuple(shape))
        return model


# ---- saving ---------------------------------------------------------------------------------

def _compile_config(model: Model) -> dict[str, Any] | None:
    """What compile was given, if every part is a built-in (a custom function cannot be
    written into a file without pickle)."""
    compiled = training._compiled(model, "save")
    opt = optimizers.serialize(model.optimizer)
    loss = compiled.loss
    if opt is None or type(loss) not in training.LOSSES.values():
        return None
    metrics = []
    for m in compiled.metrics:
        if type(m) not in training.METRICS.values():
            return None
        metrics.append({"class_name": type(m).__name__, "config": m.get_config()})
    return {"optimizer": opt, "loss": {"class_name": type(loss).__name__, "config": loss.get_config()},
            "metrics": metrics}


def save_model(model: Model, filepath: Any, overwrite: bool = True) -> None:
    _check_overwrite(filepath, overwrite)
    state: dict[str, Any] = {"format": MODEL_FORMAT, "version": 1, "model": model.to_json(),
                             "weights": model.get_weights()}
    if model.compiled:
        if model._compile_config is None:
            warnings.warn("save: the compile settings use a custom loss, metric or optimizer, so they "
                          "are not saved; load_model returns the model uncompiled", stacklevel=3)
        else:
            state["compile"] = json.dumps(model._compile_config)
            if getattr(model.optimizer, "built", False):
                state["optimizer"] = model.optimizer.state_dict()
    serialization.save(state, filepath)


def load_model(filepath: Any, custom_objects: Any = None, compile: bool = True,  # noqa: A002
               safe_mode: bool = True) -> Model:
    """The model saved by `model.save(filepath)`: rebuilt from its architecture, with its
    weights, and compiled with its optimizer (and the optimizer's state) when it was."""
    if custom_objects:
        raise ValueError("load_model: custom_objects are not supported by minidl.keras (only "
                         "built-in layers, losses and metrics are saved)")
    state = _read(filepath, (MODEL_FORMAT,))
    model = model_from_json(state["model"])
    model.set_weights(list(state["weights"]))
    if compile and "compile" in state:
        config = json.loads(state["compile"])
        loss_cls = {cls.__name__: cls for cls in training.LOSSES.values()}[config["loss"]["class_name"]]
        metric_classes = {cls.__name__: cls for cls in training.METRICS.values()}
        metrics = [metric_classes[m["class_name"]](**m["config"]) for m in config["metrics"]]
        model.compile(optimizer=optimizers.deserialize(config["optimizer"]),
                      loss=loss_cls(**config["loss"]["config"]), metrics=metrics)
        if "optimizer" in state:
            model.optimizer.build(list(model.parameters()))
            model.optimizer.load_state_dict(state["optimizer"])
    return model


def model_from_json(json_string: str, custom_objects: Any = None) -> Model:
    spec = json.loads(json_string)
    if spec.get("class_name") != "Sequential":
        raise ValueError(f"model_from_json: minidl.keras rebuilds Sequential models, got "
                         f"{spec.get('class_name')!r}")
    return Sequential.from_config(spec["config"])


def _read(filepath: Any, formats: tuple[str, ...]) -> dict[str, Any]:
    state = serialization.load(filepath)
    if not isinstance(state, dict) or state.get("format") not in formats:
        raise ValueError(f"{filepath}: not a minidl.keras file (written by model.save or "
                         f"model.save_weights); a Keras .keras/.h5 file cannot be read, move weights "
                         f"with get_weights()/set_weights() instead")
    return state


def _check_overwrite(filepath: Any, overwrite: bool) -> None:
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{filepath} exists and overwrite=False")


# ---- argument checks ------------------------------------------------------------------------

def _batch_size(batch_size: Any) -> int:
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def _refuse_extras(what: str, given: dict[str, Any], defaults: dict[str, Any]) -> None:
    for key, value in given.items():
        if key not in defaults:
            raise TypeError(f"{what}() got an unexpected keyword argument {key!r}")
        default = defaults[key]
        if value is not default and not (default is not None and isinstance(value, type(default))
                                         and value == default):
            raise ValueError(f"{what}: {key}={value!r} is not supported by minidl.keras")


def _shape_text(shape: Shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"
