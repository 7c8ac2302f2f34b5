"""Keras's losses (`keras.losses`): the classes compile takes and their function forms.

The classes are minidl's training engine's own (minidl.training), so `nn.Sequential` and
Keras models share one definition of each. `loss(y_true, y_pred)` returns the mean over
the samples (a scalar Tensor); the functions return the per-sample losses.
"""
from __future__ import annotations

from typing import Any

from minidl.autograd.tensor import Tensor, as_tensor
from minidl.training import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Loss,
    LossFunctionWrapper,
    MeanAbsoluteError,
    MeanSquaredError,
    SparseCategoricalCrossentropy,
    get_loss,
)

__all__ = ["Loss", "LossFunctionWrapper", "SparseCategoricalCrossentropy", "CategoricalCrossentropy",
           "BinaryCrossentropy", "MeanSquaredError", "MeanAbsoluteError", "get",
           "sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy",
           "mean_squared_error", "mean_absolute_error", "mse", "mae"]


def get(identifier: Any) -> Loss:
    """A loss from a name (Keras's semantics: outputs are probabilities), object or function."""
    return get_loss(identifier, from_logits=False, order="keras")


def _per_sample(loss: Loss, y_true: Any, y_pred: Any) -> Tensor:
    pred = as_tensor(y_pred)
    return loss.per_sample(pred, as_tensor(y_true, device=pred.device))


def sparse_categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False) -> Tensor:
    return _per_sample(SparseCategoricalCrossentropy(from_logits), y_true, y_pred)


def categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                             label_smoothing: float = 0.0) -> Tensor:
    return _per_sample(CategoricalCrossentropy(from_logits, label_smoothing), y_true, y_pred)


def binary_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                        label_smoothing: float = 0.0) -> Tensor:
    return _per_sample(BinaryCrossentropy(from_logits, label_smoothing), y_true, y_pred)


def mean_squared_error(y_true: Any, y_pred: Any) -> Tensor:
    return _per_sample(MeanSquaredError(), y_true, y_pred)


def mean_absolute_error(y_true: Any, y_pred: Any) -> Tensor:
    return _per_sample(MeanAbsoluteError(), y_true, y_pred)


mse = mean_squared_error
mae = mean_absolute_error
