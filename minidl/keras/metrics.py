"""Keras's metrics for compile (`keras.metrics`): by name ("accuracy", "mae", "mse", ...)
or as objects (the string "accuracy" picks binary, sparse or categorical accuracy by
the loss and the shapes, as Keras). Each is reduced over the whole epoch (sum / count), as Keras's."""
from __future__ import annotations

from minidl.training import (
    BinaryAccuracy,
    CategoricalAccuracy,
    Metric,
    SparseCategoricalAccuracy,
    get_metric,
)
from minidl.training import MeanAbsoluteErrorMetric as MeanAbsoluteError
from minidl.training import MeanSquaredErrorMetric as MeanSquaredError

__all__ = ["Metric", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy",
           "MeanAbsoluteError", "MeanSquaredError", "get"]

get = get_metric
