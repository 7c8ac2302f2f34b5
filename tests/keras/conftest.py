"""Every test starts as a fresh program would: layer and model names from "dense", "sequential"."""
from __future__ import annotations

import pytest

from minidl import keras


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    keras.backend.clear_session()
    yield
