"""The one training engine: compile, fit, evaluate, predict, with Keras's semantics.

`nn.Sequential.compile/fit/evaluate/predict` and `minidl.keras` models both run the loop in
`fit` below, built from the same public pieces a hand-written PyTorch-style loop uses
(DataLoader, an optimizer, a loss): reading `fit` shows exactly what one epoch does.
What Keras users expect lives here too: its losses (a softmax or sigmoid output layer gives
its logits to a cross-entropy loss, so the loss is computed stably), its choice of accuracy,
`validation_split`, `initial_epoch`, callbacks with Keras's hook order and `logs` keys,
`History` and Keras's progress bar.

Shapes: x (N, ...), y (N,) class ids, (N, K) one-hot or (N, ...) targets; K classes.
"""
from __future__ import annotations

import math
import sys
import time
from collections import UserDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from minidl import backend as B
from minidl.autograd import no_grad
from minidl.autograd.tensor import Tensor, as_tensor
from minidl.data import DataLoader, TensorDataset

EPSILON = 1e-7  # Keras's backend.epsilon(): probabilities are clipped to [eps, 1 - eps]


# ==== losses ==================================================================================

class Loss:
    """A loss with Keras's semantics: `loss(y_true, y_pred)` is the mean over every sample
    of the per-sample losses ("sum_over_batch_size"), a scalar Tensor.

    `head` names the output activation ("softmax", "sigmoid") whose logits this loss can
    use: when a model ends in that activation, fit and evaluate compute the loss from the
    logits instead of the probabilities (stable; the same numbers). `from_logits`: False
    (Keras's default: the outputs are probabilities), True (they are logits), or None
    (minidl's `nn.Sequential` names: logits unless the model ends in the head activation).
    """

    name = "loss"
    head: str | None = None
    classification = False

    def __init__(self, from_logits: bool | None = False, name: str | None = None) -> None:
        self.from_logits = from_logits
        if name is not None:
            self.name = name

    def __call__(self, y_true: Any, y_pred: Any) -> Tensor:
        """Keras's calling order: targets first."""
        pred = as_tensor(y_pred)
        return self.compute(pred, as_tensor(y_true, device=pred.device))

    def compute(self, out: Tensor, target: Tensor, logits: Tensor | None = None) -> Tensor:
        """The mean loss of `out` (or of the head's `logits`, when given) against `target`."""
        return self.per_sample(out, target, logits).mean()

    def per_sample(self, out: Tensor, target: Tensor, logits: Tensor | None = None) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no per_sample()")

    def uses_probabilities(self, logits: Tensor | None) -> bool:
        """True when the loss must read `out` as probabilities (no logits to use)."""
        return logits is None and self.from_logits is False

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "from_logits": self.from_logits}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(from_logits={self.from_logits})"


def _shape_error(loss: str, target: Tensor, out: Tensor, expected: str, hint: str = "") -> ValueError:
    return ValueError(f"{loss}: labels of shape {tuple(target.shape)} do not fit model outputs of "
                      f"shape {tuple(out.shape)}: {expected}{hint}")


def _like_output(loss: str, out: Tensor, target: Tensor) -> Tensor:
    """`target` in `out`'s shape and dtype: (N,) labels for (N, 1) outputs are reshaped, as
    Keras's squeeze_or_expand_to_same_rank; anything else must match exactly."""
    shape = tuple(out.shape)
    if tuple(target.shape) != shape:
        if not (shape and shape[-1] == 1 and tuple(target.shape) == shape[:-1]):
            raise _shape_error(loss, target, out, f"this loss takes labels shaped like the outputs, "
                               f"{shape}", _class_id_hint(target, out))
        target = target.reshape(shape)
    return target if target.dtype == out.dtype else target.astype(out.dtype)


def _class_id_hint(target: Tensor, out: Tensor) -> str:
    if target.ndim == out.ndim - 1 and out.shape[-1] > 1:
        return ("; these look like integer class ids: use loss='sparse_categorical_crossentropy' "
                "(or one-hot labels from keras.utils.to_categorical(y))")
    return ""


def _flat_classes(t: Tensor) -> Tensor:
    """(..., K) -> (M, K): the losses of F work on 2-D logits."""
    return t if t.ndim == 2 else t.reshape(-1, t.shape[-1])


def _log_probabilities(out: Tensor) -> Tensor:
    """Keras's from_logits=False path: out / sum(out), clipped to [eps, 1 - eps], then log."""
    p = out / out.sum(axis=-1, keepdims=True)
    return p.clip(EPSILON, 1.0 - EPSILON).log()


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy against integer class ids: outputs (..., K), labels (...) or (..., 1)."""

    name = "sparse_categorical_crossentropy"
    head = "softmax"
    classification = True

    def per_sample(self, out: Tensor, target: Tensor, logits: Tensor | None = None) -> Tensor:
        import minidl.functional as F  # noqa: PLC0415 - functional imports ops: light, but not at import

        target = self.class_ids(out, target)
        if self.uses_probabilities(logits):
            logp = _flat_classes(_log_probabilities(out))
            xp = B.array_module(logp.data)
            one_hot = xp.eye(logp.shape[-1], dtype=logp.dtype)[target.data.reshape(-1)]
            return -(logp * one_hot).sum(axis=-1).reshape(out.shape[:-1])
        z = out if logits is None else logits
        return F.cross_entropy(_flat_classes(z), target.reshape(-1), reduction="none").reshape(z.shape[:-1])

    def class_ids(self, out: Tensor, target: Tensor) -> Tensor:
        """Labels as integer ids of out.shape[:-1] (float labels holding ids are cast, as Keras)."""
        want = tuple(out.shape[:-1])
        shape = tuple(target.shape)
        if shape == want + (1,):
            target = target.reshape(want)
        elif shape != want:
            hint = ("; these look like one-hot labels: use loss='categorical_crossentropy'"
                    if shape == tuple(out.shape) else "")
            raise _shape_error(self.name, target, out, f"this loss takes integer class ids of shape "
                               f"{want} (or {want + (1,)})", hint)
        if target.dtype.kind == "f":
            target = target.astype("int64")
        elif target.dtype.kind not in "iu":
            raise TypeError(f"{self.name}: labels must be integer class ids, got dtype {target.dtype}")
        return target


class _Smoothed(Loss):
    """A cross-entropy with Keras's label_smoothing (labels pulled towards uniform)."""

    classification = True

    def __init__(self, from_logits: bool | None = False, label_smoothing: float = 0.0,
                 name: str | None = None) -> None:
        super().__init__(from_logits, name)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"{self.name}: label_smoothing must be in [0, 1], got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


class CategoricalCrossentropy(_Smoothed):
    """Cross-entropy against one-hot (or probability) labels of the outputs' shape (..., K)."""

    name = "categorical_crossentropy"
    head = "softmax"

    def per_sample(self, out: Tensor, target: Tensor, logits: Tensor | None = None) -> Tensor:
        import minidl.functional as F  # noqa: PLC0415

        if tuple(target.shape) != tuple(out.shape):
            raise _shape_error(self.name, target, out, f"this loss takes one-hot labels of the "
                               f"outputs' shape {tuple(out.shape)}", _class_id_hint(target, out))
        target = target.astype(out.dtype) if target.dtype != out.dtype else target
        if self.uses_probabilities(logits):
            if self.label_smoothing:
                target = target * (1.0 - self.label_smoothing) + self.label_smoothing / out.shape[-1]
            return -(target * _log_probabilities(out)).sum(axis=-1)
        z = out if logits is None else logits
        loss = F.cross_entropy(_flat_classes(z), _flat_classes(target), reduction="none",
                               label_smoothing=self.label_smoothing)
        return loss.reshape(z.shape[:-1])


class CrossEntropy(Loss):
    """PyTorch's cross-entropy (`nn.Sequential`'s "cross_entropy"): logits (..., K) against
    integer class ids or class probabilities, whichever the labels are."""

    name = "cross_entropy"
    head = "softmax"
    classification = True

    def __init__(self, from_logits: bool | None = None, name: str | None = None) -> None:
        super().__init__(from_logits, name)
        self._sparse = SparseCategoricalCrossentropy(from_logits, self.name)
        self._dense = CategoricalCrossentropy(from_logits, name=self.name)

    def per_sample(self, out: Tensor, target: Tensor, logits: Tensor | None = None) -> Tensor:
        dense = target.dtype.kind == "f" and tuple(target.shape) == tuple(out.shape)
        return (self._dense if dense else self._sparse).per_sample(out, target, logits)


class BinaryCrossentropy(_Smoothed):
    """Binary cross-entropy of outputs in (0, 1) (sigmoid) against 0/1 labels of their shape."""

    name = "binary_crossentropy"
    head = "sigmoid"

    def per_sample(self, out: Tensor, target: Tensor, logits: Tensor | None = None) -> Tensor:
        import minidl.functional as F  # noqa: PLC0415

        target = _like_output(self.name, out, target)
        if self.label_smoothing:
            target = target * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        if self.uses_probabilities(logits):
            p = out.clip(EPSILON, 1.0 - EPSILON)
            loss = -(target * p.log() + (1.0 - target) * (1.0 - p).log())
        else:
            z = out if logits is None else logits
            loss = F.binary_cross_entropy_with_logits(z, target, reduction="none")
        return loss.mean(axis=-1)


class MeanSquaredError(Loss):
    """mean((y_pred - y_true)**2) over the last axis, then over the samples."""

    name = "mean_squared_error"

    def __init__(self, name: str | None = None) -> None:
        super().__init__(False, name)

    def per_sample(self, out: Tensor, target: Tensor, logits: Tensor | None = None) -> Tensor:
        diff = out - _like_output(self.name, out, target)
        return (diff * diff).mean(axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}


class MeanAbsoluteError(Loss):
    """mean(|y_pred - y_true|) over the last axis, then over the samples."""

    name = "mean_absolute_error"

    def __init__(self, name: str | None = None) -> None:
        super().__init__(False, name)

    def per_sample(self, out: Tensor, target: Tensor, logits: Tensor | None = None) -> Tensor:
        return (out - _like_output(self.name, out, target)).abs().mean(axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}


class LossFunctionWrapper(Loss):
    """A user's loss function. `order="keras"`: fn(y_true, y_pred), per-sample or reduced;
    `order="torch"`: fn(pred, target) (what `nn.Sequential.compile` takes, e.g. F.cross_entropy
    or an nn loss module). Either way the engine trains on the mean of what it returns."""

    def __init__(self, fn: Callable[..., Any], order: str = "keras", name: str | None = None) -> None:
        super().__init__(None, name or getattr(fn, "__name__", type(fn).__name__))
        self.fn, self.order = fn, order
        self.classification = (fn is _functional("cross_entropy")
                               or type(fn).__name__ in ("CrossEntropyLoss", "NLLLoss", "BCELoss",
                                                        "BCEWithLogitsLoss"))

    def per_sample(self, out: Tensor, target: Tensor, logits: Tensor | None = None) -> Tensor:
        value = self.fn(target, out) if self.order == "keras" else self.fn(out, target)
        return as_tensor(value)


def lookup(table: Mapping[str, Any], name: str, what: str, plural: str, alternative: str = "") -> Any:
    """table[name.lower()], or a ValueError listing the known names."""
    found = table.get(name.lower())
    if found is None:
        raise ValueError(f"unknown {what} {name!r}; known {plural}: {', '.join(sorted(table))}{alternative}")
    return found


def name_of(table: Mapping[str, Any], value: Any, what: str) -> str:
    """The first name under which `table` holds `value` (to save it); ValueError if none."""
    for name, known in table.items():
        if value is known:
            return name
    raise ValueError(f"the {what} {getattr(value, '__name__', value)!r} is not a built-in one "
                     f"({', '.join(sorted(table))}), so it cannot be saved")


def _functional(name: str) -> Any:
    import minidl.functional as F  # noqa: PLC0415

    return getattr(F, name, None)


# names -> loss classes; "cross_entropy" is PyTorch's (logits, either kind of labels)
LOSSES: dict[str, type[Loss]] = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "cross_entropy": CrossEntropy,
}


def get_loss(identifier: Any, from_logits: bool | None = False, order: str = "keras") -> Loss:
    """A Loss from a name (see LOSSES), a Loss object, or a callable. Named cross-entropies
    take `from_logits` (False for Keras models; None for `nn.Sequential`, see `Loss`)."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = lookup(LOSSES, identifier, "loss", "losses", " (or pass a loss object or a function)")
        if cls in (MeanSquaredError, MeanAbsoluteError):
            return cls(name=identifier)
        return cls(from_logits=from_logits)
    if callable(identifier):
        return LossFunctionWrapper(identifier, order)
    raise TypeError(f"loss must be a name, a loss object or a function, got {type(identifier).__name__}")


# ==== metrics =================================================================================

@dataclass
class _Context:
    """What a metric needs to know beyond out and target: the loss, and whether the outputs
    are logits (then "accuracy" thresholds binary outputs at 0, which is probability 0.5)."""

    loss: Loss
    logits_out: bool


class Metric:
    """A metric over a whole epoch: `totals(out, target, ctx)` gives a batch's (sum, count),
    the sum a device scalar (so nothing is read back per batch); the result is sum / count.
    None instead of a pair: this metric means nothing here (it is left out of the logs)."""

    name = "metric"

    def __init__(self, name: str | None = None) -> None:
        if name is not None:
            self.name = name

    def totals(self, out: Any, target: Any, ctx: _Context) -> tuple[Any, int] | None:
        raise NotImplementedError(f"{type(self).__name__} has no totals()")

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}


def _sparse_hits(out: Any, target: Any) -> Any:
    if target.ndim == out.ndim and target.shape[-1] == 1:
        target = target.reshape(target.shape[:-1])
    return out.argmax(axis=-1) == target


class SparseCategoricalAccuracy(Metric):
    name = "sparse_categorical_accuracy"

    def totals(self, out: Any, target: Any, ctx: _Context) -> tuple[Any, int]:
        hits = _sparse_hits(out, target)
        return hits.sum(), hits.size


class CategoricalAccuracy(Metric):
    name = "categorical_accuracy"

    def totals(self, out: Any, target: Any, ctx: _Context) -> tuple[Any, int]:
        hits = out.argmax(axis=-1) == target.argmax(axis=-1)
        return hits.sum(), hits.size


class BinaryAccuracy(Metric):
    """Share of outputs on the right side of `threshold` (0 instead of 0.5 when the outputs
    are logits, e.g. an `nn.Sequential` ending in a 1-unit Dense with "binary_crossentropy")."""

    name = "binary_accuracy"

    def __init__(self, name: str | None = None, threshold: float = 0.5) -> None:
        super().__init__(name)
        self.threshold = float(threshold)

    def totals(self, out: Any, target: Any, ctx: _Context) -> tuple[Any, int]:
        threshold = 0.0 if ctx.logits_out and self.threshold == 0.5 else self.threshold
        if target.shape != out.shape:
            target = target.reshape(out.shape)
        hits = (out > threshold).astype(target.dtype) == target  # labels exactly 0 or 1, as Keras
        return hits.sum(), hits.size

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "threshold": self.threshold}


class Accuracy(Metric):
    """Keras's "accuracy": binary (threshold 0.5) when the outputs have one unit or the loss
    is binary cross-entropy, sparse categorical when the labels are class ids (one axis
    fewer than the outputs, or a last axis of 1), else categorical.

    `optional` (`nn.Sequential`'s default metric): left out where it means nothing, that is
    for a loss that is not a classification loss and labels that are not integers."""

    name = "accuracy"

    def __init__(self, name: str | None = None, optional: bool = False) -> None:
        super().__init__(name)
        self.optional = optional

    def totals(self, out: Any, target: Any, ctx: _Context) -> tuple[Any, int] | None:
        if self.optional and not ctx.loss.classification and target.dtype.kind not in "iu":
            return None
        return self.flavour(out, target, ctx.loss).totals(out, target, ctx)

    @staticmethod
    def flavour(out: Any, target: Any, loss: Loss) -> Metric:
        if out.shape[-1] == 1 or isinstance(loss, BinaryCrossentropy):
            return BinaryAccuracy()
        if target.ndim < out.ndim or (target.shape[-1] == 1 and out.shape[-1] > 1):
            return SparseCategoricalAccuracy()
        return CategoricalAccuracy()

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}


def _metric_target(name: str, out: Any, target: Any) -> Any:
    """Labels in the outputs' shape ((N,) labels for (N, 1) outputs are reshaped)."""
    if target.shape == out.shape:
        return target
    if out.shape[-1] == 1 and target.shape == out.shape[:-1]:
        return target.reshape(out.shape)
    raise ValueError(f"metric {name}: labels of shape {tuple(target.shape)} do not fit model outputs "
                     f"of shape {tuple(out.shape)}: it compares labels shaped like the outputs")


class MeanAbsoluteErrorMetric(Metric):
    name = "mean_absolute_error"

    def totals(self, out: Any, target: Any, ctx: _Context) -> tuple[Any, int]:
        target = _metric_target(self.name, out, target)
        return abs(out - target).sum() / out.shape[-1], out.size // out.shape[-1]


class MeanSquaredErrorMetric(Metric):
    name = "mean_squared_error"

    def totals(self, out: Any, target: Any, ctx: _Context) -> tuple[Any, int]:
        diff = out - _metric_target(self.name, out, target)
        return (diff * diff).sum() / out.shape[-1], out.size // out.shape[-1]


METRICS: dict[str, type[Metric]] = {
    "accuracy": Accuracy, "acc": Accuracy,
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "mae": MeanAbsoluteErrorMetric, "mean_absolute_error": MeanAbsoluteErrorMetric,
    "mse": MeanSquaredErrorMetric, "mean_squared_error": MeanSquaredErrorMetric,
}


def get_metric(identifier: Any, optional_accuracy: bool = False) -> Metric:
    """A Metric from a name (see METRICS; the name given is its key in the logs) or an object."""
    if isinstance(identifier, Metric):
        return identifier
    if not isinstance(identifier, str):
        raise TypeError(f"a metric must be a name or a metric object, got {type(identifier).__name__}")
    cls = lookup(METRICS, identifier, "metric", "metrics")
    if cls is Accuracy:
        return Accuracy(name=identifier, optional=optional_accuracy)
    return cls(name=identifier)


# ==== compile =================================================================================

@dataclass
class Compiled:
    """What `compile` fixed: the optimizer, the loss and the metrics to report."""

    optimizer: Any
    loss: Loss
    metrics: list[Metric]


def compile(model: Any, optimizer: Any, loss: Any, metrics: Any = ("accuracy",), *,  # noqa: A001
            keras: bool = False) -> None:
    """Fix the optimizer, the loss and the metrics of `model` for fit and evaluate.

    `nn.Sequential` (keras=False): optimizer "sgd", "adam", "adamw" or an object with step()
    and zero_grad(); loss a name (see LOSSES; cross-entropies take the model's outputs as
    logits unless it ends in nn.Softmax / nn.Sigmoid, whose logits are then used), a Loss or
    a function `loss(pred, target)`; metrics names (see METRICS), "accuracy" being left out
    where it means nothing. `minidl.keras` (keras=True): the optimizer is already an object,
    cross-entropies read probabilities (from_logits=False), loss functions take
    (y_true, y_pred), and every metric asked for is reported.
    """
    if isinstance(metrics, (str, Metric)):
        metrics = (metrics,)
    names = [get_metric(m, optional_accuracy=not keras) for m in (metrics or ())]
    resolved = get_loss(loss, from_logits=False if keras else None, order="keras" if keras else "torch")
    model._compiled = Compiled(_make_optimizer(optimizer, model), resolved, names)


def _make_optimizer(optimizer: Any, model: Any) -> Any:
    if not isinstance(optimizer, str):
        if not (hasattr(optimizer, "step") and hasattr(optimizer, "zero_grad")):
            raise TypeError(f"compile: optimizer must be a name or have step() and zero_grad(), "
                            f"got {type(optimizer).__name__}")
        return optimizer
    from minidl import optim  # noqa: PLC0415 - optim imports nn, which imports this module's users

    makers = {"sgd": lambda p: optim.SGD(p, lr=0.01), "adam": lambda p: optim.Adam(p),
              "adamw": lambda p: optim.AdamW(p)}
    key = optimizer.lower()
    if key not in makers:
        raise ValueError(f"compile: unknown optimizer {optimizer!r}; expected one of {sorted(makers)} "
                         f"or an optimizer object")
    return makers[key](list(model.parameters()))


def _compiled(model: Any, what: str) -> Compiled:
    compiled = model.__dict__.get("_compiled")
    if compiled is None:
        raise RuntimeError(f"{what}: call model.compile(optimizer, loss) first")
    return compiled


# ==== callbacks ===============================================================================

class Callback:
    """Keras's callback: override the hooks you need. `self.model` is the model being
    trained, `self.params` {"verbose", "epochs", "steps"}. Batch `logs` hold the running
    means of the epoch so far; epoch logs the epoch's "loss", metrics and "val_" ones."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}
        self._model: Any = None

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def set_model(self, model: Any) -> None:
        self._model = model

    @property
    def model(self) -> Any:
        return self._model

    def on_batch_begin(self, batch: int, logs: Any = None) -> None:
        """A training batch starts (called by on_train_batch_begin)."""

    def on_batch_end(self, batch: int, logs: Any = None) -> None:
        """A training batch ended (called by on_train_batch_end)."""

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        """An epoch starts."""

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        """An epoch ended; `logs` holds its results, validation included."""

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch: int, logs: Any = None) -> None:
        """An evaluation batch starts (evaluate, or validation inside fit)."""

    def on_test_batch_end(self, batch: int, logs: Any = None) -> None:
        """An evaluation batch ended."""

    def on_predict_batch_begin(self, batch: int, logs: Any = None) -> None:
        """A predict batch starts."""

    def on_predict_batch_end(self, batch: int, logs: Any = None) -> None:
        """A predict batch ended."""

    def on_train_begin(self, logs: Any = None) -> None:
        """fit starts."""

    def on_train_end(self, logs: Any = None) -> None:
        """fit ends; `logs` are the last epoch's."""

    def on_test_begin(self, logs: Any = None) -> None:
        """An evaluation starts."""

    def on_test_end(self, logs: Any = None) -> None:
        """An evaluation ends; `logs` holds its results."""

    def on_predict_begin(self, logs: Any = None) -> None:
        """predict starts."""

    def on_predict_end(self, logs: Any = None) -> None:
        """predict ends."""


class History(Callback):
    """Per-epoch logs of `fit`: `history["loss"]`, the metrics and their "val_" versions,
    and `epoch`, the epoch numbers (from `initial_epoch`). fit adds one by itself."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: Any = None) -> None:
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        if self.model is not None:
            self.model.history = self

    def append(self, logs: Mapping[str, float]) -> None:
        """Record one more epoch's logs (for hand-written loops)."""
        self.on_epoch_end(len(self.epoch), dict(logs))

    def plot(self, path: str | Path, title: str | None = None) -> Path:
        """Draw loss (and accuracy, when logged) per epoch into a PNG at `path`."""
        Figure = _matplotlib_figure("History.plot")
        panels = [k for k in ("loss", "accuracy") if k in self.history]
        fig = Figure(figsize=(5 * max(len(panels), 1), 3.6), layout="constrained")
        axes = fig.subplots(1, max(len(panels), 1), squeeze=False)[0]
        epochs = np.arange(1, len(self.epoch) + 1)
        for ax, key in zip(axes, panels):
            for prefix, style in (("", "o-"), ("val_", "s--")):
                if prefix + key in self.history:
                    ax.plot(epochs, self.history[prefix + key], style, label=prefix + key)
            ax.set_xlabel("epoch")
            ax.set_ylabel(key)
            ax.grid(alpha=0.3)
            ax.legend()
        if title:
            fig.suptitle(title)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        return path

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


def _matplotlib_figure(what: str) -> Any:
    """matplotlib's Figure class, imported only when a plot is asked for."""
    try:
        from matplotlib.figure import Figure  # noqa: PLC0415 - optional dependency
    except ImportError as exc:
        raise ImportError(f"{what} needs matplotlib: pip install 'minidl[plot]' "
                          f"(or pip install matplotlib)") from exc
    return Figure


class _LazyLogs(UserDict):  # type: ignore[type-arg]
    """Batch logs computed on first read: running means live on the device, and reading
    them back every batch would stall a GPU for callbacks that never look."""

    def __init__(self, compute: Callable[[], dict[str, float]]) -> None:  # noqa: D107
        self._compute, self._data = compute, None

    @property
    def data(self) -> dict[str, float]:  # type: ignore[override]
        if self._data is None:
            self._data = self._compute()
        return self._data

    @data.setter
    def data(self, value: dict[str, float]) -> None:
        self._data = value


class CallbackList:
    """The callbacks of one fit/evaluate/predict, called in order: the user's, then History
    (fit), then the progress bar (verbose != 0), as Keras."""

    def __init__(self, callbacks: Any, model: Any, *, add_history: bool = False, verbose: Any = 0,
                 epochs: int = 1, steps: int | None = None) -> None:
        if isinstance(callbacks, Callback):
            callbacks = [callbacks]
        self.callbacks = list(callbacks or [])
        for i, cb in enumerate(self.callbacks):
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks[{i}] is a {type(cb).__name__}, not a Callback "
                                f"(subclass keras.callbacks.Callback)")
        self.history = next((cb for cb in self.callbacks if isinstance(cb, History)), None)
        if self.history is None and add_history:
            self.history = History()
            self.callbacks.append(self.history)
        if verbose and not any(isinstance(cb, ProgbarLogger) for cb in self.callbacks):
            self.callbacks.append(ProgbarLogger())
        params = {"verbose": verbose, "epochs": epochs, "steps": steps}
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)

    def call(self, hook: str, *args: Any) -> None:
        """Call `hook` on every callback (hooks without logs get an empty dict, as Keras's)."""
        for cb in self.callbacks:
            getattr(cb, hook)(*args)


class Progbar:
    """Keras's progress bar: verbose=1 redraws `12/250 ━━━━━━━━ 3s 14ms/step - loss: 0.31`
    (ETA while running, elapsed time at the end), verbose=2 prints the final line only."""

    def __init__(self, target: int | None, width: int = 20, verbose: int = 1, interval: float = 0.05,
                 unit_name: str = "step") -> None:
        self.target, self.width, self.verbose = target, width, verbose
        self.interval, self.unit_name = interval, unit_name
        self._values: dict[str, float] = {}
        self._start = time.time()
        self._last_update = 0.0
        self._time_after_first_step: float | None = None
        self._prev_total_width = 0

    def update(self, current: int, values: Any = None, finalize: bool | None = None) -> None:
        """Show step `current`; `values` (pairs, or a callable giving them, read only when
        drawn) are displayed as they are."""
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        now = time.time()
        per_unit = self._step_duration(current, now)
        drawing = (self.verbose == 1 and (finalize or now - self._last_update >= self.interval)) or (
            self.verbose == 2 and finalize)
        if drawing:
            if callable(values):
                values = values()
            self._values.update(values or [])
            self._write(self._line_1(current, now, per_unit, finalize) if self.verbose == 1
                        else self._line_2(current, now, per_unit))
        if self.verbose == 1 and drawing or self.verbose == 2:
            self._last_update = now

    def _line_1(self, current: int, now: float, per_unit: float, finalize: bool) -> str:
        if self.target:
            digits = int(math.log10(self.target)) + 1
            bar = f"\x1b[1m{current:{digits}d}/{self.target}\x1b[0m "
            special = 8
            done = int(self.width * current / self.target)
            if done > 0:
                bar += f"\33[32m{'━' * done}\x1b[0m"
                special += 9
            bar += f"\33[37m{'━' * (self.width - done)}\x1b[0m"
            special += 9
        else:
            bar, special = f"{current:7d}/Unknown", 0
        if self.target and not finalize:
            info = f" \x1b[1m{_eta(per_unit * (self.target - current))}\x1b[0m"
        else:
            info = f" \x1b[1m{now - self._start:.0f}s\x1b[0m"
        special += 8
        info += _per_unit(per_unit, self.unit_name) + self._metrics(abs_small=True)
        message = "\b" * self._prev_total_width + "\r" + bar + info
        total_width = len(bar) + len(info) - special
        message += " " * max(self._prev_total_width - total_width, 0)
        self._prev_total_width = total_width
        return message + ("\n" if finalize else "")

    def _line_2(self, current: int, now: float, per_unit: float) -> str:
        if not self.target:
            return ""
        digits = int(math.log10(self.target)) + 1
        info = f"{current:{digits}d}/{self.target} - {now - self._start:.0f}s -"
        return info + _per_unit(per_unit, self.unit_name) + self._metrics(abs_small=False) + "\n"

    def _metrics(self, abs_small: bool) -> str:
        text = ""
        for key, value in self._values.items():
            small = abs(value) <= 1e-3 if abs_small else value <= 1e-3
            text += f" - {key}: {value:.4e}" if small else f" - {key}: {value:.4f}"
        return text

    def _step_duration(self, current: int, now: float) -> float:
        """Seconds per step, leaving out the first step (compilation, warm-up) when possible."""
        if not current:
            return 0.0
        if self._time_after_first_step is not None and current > 1:
            per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            per_unit = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return per_unit

    @staticmethod
    def _write(message: str) -> None:
        sys.stdout.write(message)
        sys.stdout.flush()


def _eta(seconds: float) -> str:
    if seconds > 3600:
        return f"{seconds // 3600:.0f}:{(seconds % 3600) // 60:02.0f}:{seconds % 60:02.0f}"
    if seconds > 60:
        return f"{seconds // 60:.0f}:{seconds % 60:02.0f}"
    return f"{seconds:.0f}s"


def _per_unit(seconds: float, unit: str) -> str:
    if seconds >= 1 or seconds == 0:
        return f" {seconds:.0f}s/{unit}"
    if seconds >= 1e-3:
        return f" {seconds * 1e3:.0f}ms/{unit}"
    return f" {seconds * 1e6:.0f}us/{unit}"


class ProgbarLogger(Callback):
    """Draws Keras's progress bar on stdout: "Epoch 3/5" then the bar per epoch (fit), one
    bar for evaluate and predict; silent during fit's validation. fit adds it when verbose."""

    def __init__(self) -> None:
        super().__init__()
        self.progbar: Progbar | None = None
        self.verbose, self.epochs, self.target = 1, 1, None
        self._in_fit = False

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params(params)
        self.verbose = 1 if params["verbose"] == "auto" else params["verbose"]
        self.epochs, self.target = params["epochs"], params["steps"]

    def on_train_begin(self, logs: Any = None) -> None:
        self._in_fit = True

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.progbar = Progbar(self.target, verbose=self.verbose)
        if self.verbose and self.epochs > 1:
            Progbar._write(f"Epoch {epoch + 1}/{self.epochs}\n")

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self._update(batch, logs)

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self._finalize(logs)

    def on_test_begin(self, logs: Any = None) -> None:
        if not self._in_fit:
            self.progbar = Progbar(self.target, verbose=self.verbose)

    def on_test_batch_end(self, batch: int, logs: Any = None) -> None:
        if not self._in_fit:
            self._update(batch, logs)

    def on_test_end(self, logs: Any = None) -> None:
        if not self._in_fit:
            self._finalize(logs)

    def on_predict_begin(self, logs: Any = None) -> None:
        self.progbar = Progbar(self.target, verbose=self.verbose)

    def on_predict_batch_end(self, batch: int, logs: Any = None) -> None:
        self._update(batch, None)

    def on_predict_end(self, logs: Any = None) -> None:
        self._finalize(None)

    def _update(self, batch: int, logs: Any) -> None:
        if self.verbose == 1 and self.progbar is not None:
            self.progbar.update(batch + 1, lambda: list((logs or {}).items()), finalize=False)
        self._seen = batch + 1

    def _finalize(self, logs: Any) -> None:
        if self.progbar is None:
            return
        target = self.target if self.target is not None else getattr(self, "_seen", 0)
        self.progbar.target = target
        self.progbar.update(target, list((logs or {}).items()), finalize=True)


# ==== running batches =========================================================================

class _Tracker:
    """The epoch's running loss (mean over samples, as Keras weights each batch by its size)
    and metric totals, summed on the device; read back only when the logs are asked for."""

    def __init__(self, compiled: Compiled, ctx: _Context) -> None:
        self.compiled, self.ctx = compiled, ctx
        self.count = 0
        self.loss_sum: Any = 0.0
        self.sums: list[Any] = [None] * len(compiled.metrics)
        self.counts = [0] * len(compiled.metrics)

    def update(self, loss: Tensor, out: Tensor, target: Tensor) -> None:
        n = len(out)
        self.loss_sum = self.loss_sum + loss.data * n  # stays a device scalar on the GPU
        self.count += n
        for i, metric in enumerate(self.compiled.metrics):
            pair = metric.totals(out.data, target.data, self.ctx)
            if pair is not None:
                self.sums[i] = pair[0] if self.sums[i] is None else self.sums[i] + pair[0]
                self.counts[i] += pair[1]

    def result(self, prefix: str = "") -> dict[str, float]:
        """The logs: "loss" and each metric that means something, sorted by name (as Keras)."""
        logs = {prefix + "loss": float(self.loss_sum) / max(self.count, 1)}
        for metric, total, count in zip(self.compiled.metrics, self.sums, self.counts):
            if total is not None:
                logs[prefix + metric.name] = float(total) / max(count, 1)
        return dict(sorted(logs.items()))

    def sum_over_ranks(self, par: Any) -> None:
        """Totals over every rank of a data-parallel job (identical logs on each)."""
        values = par.sum_over_ranks(self.loss_sum, self.count, *self.sums, *self.counts)
        k = len(self.sums)
        self.loss_sum, self.count = values[0], int(values[1])
        self.sums, self.counts = list(values[2:2 + k]), [int(c) for c in values[2 + k:]]


@dataclass
class _Head:
    """A model's output activation, split off so a cross-entropy loss can use its logits."""

    logits: Callable[[Any], Tensor]
    activation: Callable[[Tensor], Tensor]


def _head(model: Any, loss: Loss) -> _Head | None:
    """The output head this loss should use: the model's softmax/sigmoid output when it is
    the loss's own activation and the loss was not told the outputs are logits."""
    if loss.head is None or loss.from_logits is True:
        return None
    found = model.output_head() if hasattr(model, "output_head") else _sequential_head(model)
    if found is None or found[0] != loss.head:
        return None
    return _Head(found[1], found[2])


def _sequential_head(model: Any) -> tuple[str, Callable[[Any], Tensor], Callable[[Tensor], Tensor]] | None:
    """An nn.Sequential ending in nn.Softmax (over the last axis) or nn.Sigmoid."""
    from minidl import nn  # noqa: PLC0415 - nn imports training's users

    if not isinstance(model, nn.Sequential) or len(model) < 2:
        return None
    last = model[-1]
    if isinstance(last, nn.Softmax) and getattr(last, "axis", -1) in (-1, 1):
        return "softmax", model[:-1], last
    if isinstance(last, nn.Sigmoid):
        return "sigmoid", model[:-1], last
    return None


def _outputs(model: Any, head: _Head | None, xb: Tensor) -> tuple[Tensor, Tensor | None]:
    """(outputs, logits or None); with a head the outputs are computed without a graph."""
    if head is None:
        return model(xb), None
    logits = head.logits(xb)
    with no_grad():
        out = head.activation(logits)
    return out, logits


def _context(compiled: Compiled, head: _Head | None) -> _Context:
    loss = compiled.loss
    logits_out = loss.from_logits is True or (loss.from_logits is None and head is None
                                              and loss.classification)
    return _Context(loss, logits_out)


def _as_arrays(model: Any, x: Any, y: Any = None) -> tuple[Any, ...]:
    """Raw arrays for a TensorDataset; floating data is cast once to the model's dtype."""
    first = next(model.parameters(), None)

    def raw(v: Any) -> Any:
        v = v.data if isinstance(v, Tensor) else v
        v = v if B.is_array(v) else np.asarray(v)
        if first is not None and v.dtype.kind == "f" and v.dtype != first.dtype:
            v = v.astype(first.dtype)
        return v
    if x is None:
        raise ValueError("no input data: pass x (and y) as arrays")
    xa = raw(x)
    if y is None:
        return (xa,)
    return xa, raw(y)  # sample counts are compared by _checked_data, naming the call


def _on_model(model: Any, batch: Tensor) -> Tensor:
    """The batch on the model's device (a model moved with .to("cuda") trains on the GPU
    from host data; the batch is copied once, before the step)."""
    first = next(model.parameters(), None)
    return batch if first is None else batch.to(first.device)


@contextmanager
def _evaluating(model: Any) -> Iterator[None]:
    """eval() and no_grad for the duration, then the model's previous mode back."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            yield
    finally:
        model.train(was_training)


def _check_verbose(verbose: Any) -> int:
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0 (silent), 1 (progress bar), 2 (one line per epoch) "
                         f"or 'auto', got {verbose!r}")
    return int(verbose)


def _split_validation(x: Any, y: Any, split: float) -> tuple[Any, Any, tuple[Any, Any]]:
    """Keras's validation_split: the LAST `split` of the samples, taken before shuffling."""
    if not 0.0 < split < 1.0:
        raise ValueError(f"validation_split must be in [0, 1), got {split}")
    n = len(x)
    at = int(math.floor(n * (1.0 - split)))
    if at in (0, n):
        raise ValueError(f"training data contains {n} samples, which is not sufficient to split it "
                         f"into a validation and training set as specified by "
                         f"validation_split={split}: provide more data or another fraction")
    return x[:at], y[:at], (x[at:], y[at:])


def _unpack_validation(validation_data: Any) -> tuple[Any, Any]:
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        got = (f"a {type(validation_data).__name__} of length {len(validation_data)}"
               if isinstance(validation_data, (tuple, list)) else type(validation_data).__name__)
        raise TypeError(f"fit: validation_data must be a pair (x_val, y_val), got {got}")
    if len(validation_data) == 3 and validation_data[2] is not None:
        raise ValueError("fit: validation_data with sample weights is not supported by minidl")
    return validation_data[0], validation_data[1]


def _check_fit_arguments(epochs: Any, batch_size: Any, shuffle: Any, initial_epoch: Any) -> None:
    """The counts and flags of fit, checked before the first step."""
    for name, value, low in (("epochs", epochs, 0), ("batch_size", batch_size, 1),
                             ("initial_epoch", initial_epoch, 0)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"fit: {name} must be an integer, got {value!r}")
        if value < low:
            raise ValueError(f"fit: {name} must be >= {low}, got {value}")
    if not isinstance(shuffle, (bool, np.bool_)):
        raise TypeError(f"fit: shuffle must be True or False, got {shuffle!r}")


def _checked_data(what: str, arrays: tuple[Any, ...], names: tuple[str, ...]) -> tuple[Any, ...]:
    """The arrays, refused when one has no sample axis, no samples, or a count unlike x's."""
    for name, a in zip(names, arrays):
        if a.ndim == 0:
            raise ValueError(f"{what}: {name} must have a sample axis (N, ...), got a scalar")
        if a.shape[0] == 0:
            raise ValueError(f"{what}: {name} is empty (shape {tuple(a.shape)}): there are no "
                             f"samples to {'train on' if what == 'fit' else what}")
    counts = [a.shape[0] for a in arrays]
    if len(set(counts)) > 1:
        raise ValueError(f"{what}: {names[0]} has {counts[0]} samples but {names[1]} has {counts[1]}")
    return arrays


# ==== fit / evaluate / predict ================================================================

def fit(model: Any, x: Any = None, y: Any = None, *positional: Any, epochs: int = 1,
        batch_size: int = 32, verbose: Any = 1, callbacks: Any = None, validation_split: float = 0.0,
        validation_data: Any = None, shuffle: bool = True, initial_epoch: int = 0) -> History:
    """Train for epochs `initial_epoch`..`epochs - 1` over (x, y); returns the History.

    Every argument after y is keyword-only (Keras's positional order, batch_size then
    epochs, is easy to swap). `validation_split` holds out the last fraction of (x, y)
    before shuffling; `validation_data` (x_val, y_val) takes precedence. verbose: 1 draws
    Keras's progress bar, 2 prints one line per epoch, 0 is silent. `callbacks` get Keras's
    hooks in Keras's order; `model.stop_training = True` from one ends training after the
    batch. After `minidl.distributed.init()` on several ranks, each rank trains on its shard
    at `batch_size` per rank, gradients are averaged, and only rank 0 draws or prints.
    """
    if positional:
        raise TypeError(f"fit() takes x and y positionally, then keyword arguments only; got "
                        f"{len(positional)} more positional argument(s) {positional!r}. Pass them "
                        f"by name, e.g. fit(x, y, epochs=5, batch_size=64) (Keras's positional order "
                        f"is batch_size, epochs)")
    compiled = _compiled(model, "fit")
    if y is None:
        raise ValueError("fit: no targets; pass y (labels) along with x")
    verbose = _check_verbose(verbose)
    _check_fit_arguments(epochs, batch_size, shuffle, initial_epoch)
    if validation_data is not None:
        validation_data = _unpack_validation(validation_data)
    elif validation_split:
        x, y, validation_data = _split_validation(x, y, validation_split)
    dataset = TensorDataset(*_checked_data("fit", _as_arrays(model, x, y), ("x", "y")))
    par = _fit_sync(model, compiled.optimizer, len(dataset), shuffle)  # None in a job of one
    if par is None:
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=shuffle)
    else:
        loader = DataLoader(dataset, batch_size=batch_size, sampler=par.sampler)
        verbose = verbose if par.is_main else 0
    val_arrays = None if validation_data is None else _checked_data(  # found now, not after an epoch
        "fit", _as_arrays(model, *validation_data), ("validation_data[0]", "validation_data[1]"))
    cbs = CallbackList(callbacks, model, add_history=True, verbose=verbose, epochs=epochs,
                       steps=len(loader))
    head = _head(model, compiled.loss)
    model.stop_training = False
    was_training = model.training
    logs: dict[str, float] = {}
    cbs.call("on_train_begin", {})
    try:
        for epoch in range(initial_epoch, epochs):
            if par is not None:
                par.start_epoch(epoch)
            logs = _train_epoch(model, compiled, head, loader, cbs, epoch, par)
            if val_arrays is not None:
                val = _evaluate_arrays(model, compiled, head, val_arrays, batch_size, cbs)
                logs.update({"val_" + k: v for k, v in val.items()})
            cbs.call("on_epoch_end", epoch, logs)
            if model.stop_training:
                break
    finally:
        model.train(was_training)  # the mode fit found (eval for Keras models, as Keras)
    cbs.call("on_train_end", logs)
    return cbs.history


def _train_epoch(model: Any, compiled: Compiled, head: _Head | None, loader: DataLoader,
                 cbs: CallbackList, epoch: int, par: Any) -> dict[str, float]:
    """One pass over the loader; returns the epoch's logs (over every rank's samples)."""
    cbs.call("on_epoch_begin", epoch, {})
    model.train()
    tracker = _Tracker(compiled, _context(compiled, head))
    for step, (xb, yb) in enumerate(loader):
        cbs.call("on_train_batch_begin", step, {})
        xb, yb = _on_model(model, xb), _on_model(model, yb)
        out, logits = _outputs(model, head, xb)
        loss = compiled.loss.compute(out, yb, logits)
        compiled.optimizer.zero_grad()
        loss.backward()
        if par is not None:
            par.sync_gradients()
        compiled.optimizer.step()
        tracker.update(loss.detach(), out, yb)
        cbs.call("on_train_batch_end", step, _LazyLogs(tracker.result))
        if model.stop_training:
            break
    if par is not None:
        tracker.sum_over_ranks(par)
    return tracker.result()


def _fit_sync(model: Any, optimizer: Any, n_samples: int, shuffle: bool) -> Any:
    """minidl.distributed's FitSync when `init()` ran in a job of several ranks, else None.

    Asks `sys.modules`, not an import: `init()` loads minidl.distributed, and a job that
    never called it should not load it (nor the nn it imports) just to learn that."""
    state = sys.modules.get("minidl.distributed.state")
    if state is None or state.get_world_size() <= 1:
        return None
    from minidl.distributed.fit import FitSync  # noqa: PLC0415 - loaded already, by init()

    return FitSync(model, optimizer, n_samples, shuffle)


def _evaluate_arrays(model: Any, compiled: Compiled, head: _Head | None, arrays: tuple[Any, ...],
                     batch_size: int, cbs: CallbackList) -> dict[str, float]:
    loader = DataLoader(TensorDataset(*arrays), batch_size=batch_size)
    tracker = _Tracker(compiled, _context(compiled, head))
    cbs.call("on_test_begin", {})
    with _evaluating(model):
        for step, (xb, yb) in enumerate(loader):
            cbs.call("on_test_batch_begin", step, {})
            xb, yb = _on_model(model, xb), _on_model(model, yb)
            out, logits = _outputs(model, head, xb)
            tracker.update(compiled.loss.compute(out, yb, logits), out, yb)
            cbs.call("on_test_batch_end", step, _LazyLogs(tracker.result))
    logs = tracker.result()
    cbs.call("on_test_end", logs)
    return logs


def evaluate_logs(model: Any, x: Any, y: Any, *, batch_size: int = 32, verbose: Any = 0,
                  callbacks: Any = None) -> dict[str, float]:
    """The loss and metrics over (x, y) in eval mode without gradients, as a dict (the
    keys of fit's logs); verbose=1 draws Keras's bar, 2 prints its final line."""
    compiled = _compiled(model, "evaluate")
    arrays = _checked_data("evaluate", _as_arrays(model, x, y), ("x", "y"))
    steps = -(-len(arrays[0]) // batch_size)
    cbs = CallbackList(callbacks, model, verbose=_check_verbose(verbose), steps=steps)
    return _evaluate_arrays(model, compiled, _head(model, compiled.loss), arrays, batch_size, cbs)


def evaluate(model: Any, x: Any, y: Any, batch_size: int = 256) -> tuple[float, float | None]:
    """(mean loss, accuracy) over (x, y) in eval mode without gradients (`nn.Sequential`).

    The accuracy is None where it means nothing (e.g. regression with "mse")."""
    logs = evaluate_logs(model, x, y, batch_size=batch_size)
    accuracy = next((logs[m.name] for m in _compiled(model, "evaluate").metrics
                     if isinstance(m, Accuracy) and m.name in logs), None)
    return logs["loss"], accuracy


def predict(model: Any, x: Any, batch_size: int = 256, *, verbose: Any = 0,
            callbacks: Any = None) -> np.ndarray:
    """The model's outputs for every row of x, as one NumPy array (eval mode, no gradients)."""
    arrays = _checked_data("predict", _as_arrays(model, x), ("x",))
    loader = DataLoader(TensorDataset(*arrays), batch_size=batch_size)
    cbs = CallbackList(callbacks, model, verbose=_check_verbose(verbose), steps=len(loader))
    outputs = []
    cbs.call("on_predict_begin", {})
    with _evaluating(model):
        for step, (xb,) in enumerate(loader):
            cbs.call("on_predict_batch_begin", step, {})
            outputs.append(model(_on_model(model, xb)).data)
            cbs.call("on_predict_batch_end", step, {"outputs": outputs[-1]})
    cbs.call("on_predict_end", {})
    return B.to_numpy(B.array_module(*outputs).concatenate(outputs))

