"""The few `keras.backend` functions Keras programs call."""
from __future__ import annotations

from minidl.keras.layers.base import clear_session
from minidl.training import EPSILON

__all__ = ["clear_session", "epsilon", "floatx", "image_data_format", "backend"]


def epsilon() -> float:
    """The clipping constant of the probability losses: 1e-7."""
    return EPSILON


def floatx() -> str:
    return "float32"


def image_data_format() -> str:
    """minidl.keras is channels-last, as Keras by default."""
    return "channels_last"


def backend() -> str:
    return "minidl"
