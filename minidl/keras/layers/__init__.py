"""Keras's layers (`from minidl.keras import layers`), channels-last, over minidl.nn."""
from minidl.keras.layers.base import Input, InputSpec, Layer
from minidl.keras.layers.conv import (
    AveragePooling2D,
    Conv2D,
    GlobalAveragePooling2D,
    MaxPooling2D,
)
from minidl.keras.layers.core import Activation, Dense, Dropout, Embedding, Flatten
from minidl.keras.layers.normalization import BatchNormalization
from minidl.keras.layers.recurrent import GRU, LSTM

# Keras's aliases
MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
InputLayer = Input

__all__ = ["Input", "InputLayer", "InputSpec", "Layer", "Dense", "Activation", "Dropout", "Flatten",
           "Embedding", "Conv2D", "MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D",
           "GlobalAveragePooling2D", "GlobalAvgPool2D", "BatchNormalization", "LSTM", "GRU"]


def get(class_name: str) -> type[Layer]:
    """The layer class for a Keras class name (what saved configs hold)."""
    classes = {name: obj for name, obj in globals().items()
               if isinstance(obj, type) and issubclass(obj, Layer) and obj is not Layer}
    cls = classes.get(class_name)
    if cls is None:
        raise ValueError(f"unknown layer class {class_name!r}; minidl.keras has "
                         f"{', '.join(sorted(classes))}")
    return cls
