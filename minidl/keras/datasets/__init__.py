"""Keras's datasets (`keras.datasets.mnist.load_data()`), read through `md.datasets`."""
from minidl.keras.datasets import mnist

__all__ = ["mnist"]
