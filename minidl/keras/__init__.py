"""minidl's Keras front end: the Keras programs run with `from minidl import keras`.

    from minidl import keras
    from minidl.keras import layers

    model = keras.Sequential([layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
                              layers.MaxPooling2D((2, 2)), layers.Flatten(),
                              layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])

Keras's names, defaults and numbers (Keras 3), channels-last images, over minidl.nn, minidl.optim
and minidl's one training engine (minidl.training). See docs/keras.md.
"""
from minidl.keras import (
    activations,
    backend,
    callbacks,
    datasets,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    utils,
)
from minidl.keras.layers import Input
from minidl.keras.models import Model, Sequential

__all__ = ["Sequential", "Model", "Input", "layers", "models", "optimizers", "losses", "metrics",
           "callbacks", "datasets", "utils", "activations", "initializers", "backend"]
