"""The names, argument orders and defaults of API.md's "Keras front end: minidl.keras"."""
from __future__ import annotations

import inspect

import pytest

from minidl import keras
from minidl.keras import callbacks, layers, optimizers

EMPTY = inspect.Parameter.empty

# (callable, [(name, default)]) as documented, in order (more may follow)
SIGNATURES = {
    "Sequential": (keras.Sequential, [("layers", None)]),
    "compile": (keras.Sequential.compile, [("self", EMPTY), ("optimizer", "rmsprop"), ("loss", None),
                                           ("metrics", None)]),
    "fit": (keras.Sequential.fit, [("self", EMPTY), ("x", None), ("y", None), ("batch_size", 32),
                                   ("epochs", 1), ("verbose", 1), ("callbacks", None),
                                   ("validation_split", 0.0), ("validation_data", None), ("shuffle", True),
                                   ("initial_epoch", 0)]),
    "evaluate": (keras.Sequential.evaluate, [("self", EMPTY), ("x", None), ("y", None), ("batch_size", 32),
                                             ("verbose", 1)]),
    "predict": (keras.Sequential.predict, [("self", EMPTY), ("x", EMPTY), ("batch_size", 32), ("verbose", 1)]),
    "Input": (keras.Input, [("shape", EMPTY)]),
    "Dense": (layers.Dense, [("units", EMPTY), ("activation", None), ("use_bias", True)]),
    "Conv2D": (layers.Conv2D, [("filters", EMPTY), ("kernel_size", EMPTY), ("strides", (1, 1)),
                               ("padding", "valid")]),
    "MaxPooling2D": (layers.MaxPooling2D, [("pool_size", (2, 2)), ("strides", None), ("padding", "valid")]),
    "AveragePooling2D": (layers.AveragePooling2D, [("pool_size", (2, 2)), ("strides", None),
                                                   ("padding", "valid")]),
    "Dropout": (layers.Dropout, [("rate", EMPTY)]),
    "Activation": (layers.Activation, [("activation", EMPTY)]),
    "Embedding": (layers.Embedding, [("input_dim", EMPTY), ("output_dim", EMPTY)]),
    "LSTM": (layers.LSTM, [("units", EMPTY), ("return_sequences", False)]),
    "GRU": (layers.GRU, [("units", EMPTY), ("return_sequences", False)]),
    "EarlyStopping": (callbacks.EarlyStopping, [("monitor", "val_loss"), ("min_delta", 0), ("patience", 0)]),
    "ModelCheckpoint": (callbacks.ModelCheckpoint, [("filepath", EMPTY), ("monitor", "val_loss")]),
    "LearningRateScheduler": (callbacks.LearningRateScheduler, [("schedule", EMPTY)]),
    "CSVLogger": (callbacks.CSVLogger, [("filename", EMPTY)]),
    "to_categorical": (keras.utils.to_categorical, [("x", EMPTY), ("num_classes", None)]),
    "load_model": (keras.models.load_model, [("filepath", EMPTY)]),
}


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_signature(name):
    fn, expected = SIGNATURES[name]
    params = list(inspect.signature(fn).parameters.values())[:len(expected)]
    assert [(p.name, p.default) for p in params] == expected


def test_keyword_defaults_named_in_the_api():
    early = inspect.signature(callbacks.EarlyStopping).parameters
    assert early["restore_best_weights"].default is False
    assert inspect.signature(callbacks.ModelCheckpoint).parameters["save_best_only"].default is False
    assert inspect.signature(layers.Dense).parameters["kernel_initializer"].default == "glorot_uniform"
    for cls in (optimizers.SGD, optimizers.Adam, optimizers.AdamW, optimizers.RMSprop):
        assert "learning_rate" in inspect.signature(cls).parameters
    assert [type(optimizers.get(n)).__name__ for n in ("adam", "sgd", "rmsprop", "adamw")] == [
        "Adam", "SGD", "RMSprop", "AdamW"]
    assert optimizers.Adam().epsilon == 1e-7 and optimizers.RMSprop().rho == 0.9
    assert optimizers.AdamW().weight_decay == 0.004 and optimizers.SGD().learning_rate == 0.01


def test_every_public_name_of_the_api_exists():
    for name in ("Input", "Dense", "Conv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
                 "Flatten", "Dropout", "Activation", "BatchNormalization", "Embedding", "LSTM", "GRU"):
        assert hasattr(layers, name)
    for name in ("Callback", "EarlyStopping", "ModelCheckpoint", "LearningRateScheduler",
                 "ReduceLROnPlateau", "CSVLogger", "History"):
        assert hasattr(callbacks, name)
    for name in ("SparseCategoricalCrossentropy", "CategoricalCrossentropy", "BinaryCrossentropy",
                 "MeanSquaredError", "MeanAbsoluteError"):
        assert hasattr(keras.losses, name)
    assert callable(keras.datasets.mnist.load_data)
