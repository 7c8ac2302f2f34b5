"""minidl.keras on the GPU (CuPy, or its CPU emulator with MINIDL_EMULATE_GPU=1): the same
numbers as on the CPU, and fit reads nothing back from the device per batch."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from minidl import keras
from tests.conftest import GPU_REASON

from . import recipes

pytestmark = pytest.mark.gpu


@pytest.fixture
def dev() -> str:
    if not md.cuda_available():
        pytest.skip(GPU_REASON)
    return "cuda"


def train(device, verbose=0):
    keras.backend.clear_session()
    model = recipes.seed_cnn(keras)
    recipes.set_weights(model, 10)
    model.to(device)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = recipes.images()
    history = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=verbose,
                        validation_split=0.25)
    return model, history.history, model.predict(x[:5], verbose=0)


def test_a_keras_model_trains_on_the_gpu_as_on_the_cpu(dev):
    gpu_model, gpu_history, gpu_pred = train(dev)
    _, cpu_history, cpu_pred = train("cpu")
    assert gpu_model.layers[0].kernel.device == "cuda"
    for key in cpu_history:
        np.testing.assert_allclose(gpu_history[key], cpu_history[key], rtol=1e-5)
    np.testing.assert_allclose(gpu_pred, cpu_pred, rtol=1e-5, atol=1e-6)


def test_keras_fit_reads_metrics_back_once_per_epoch_not_per_batch(dev):
    cp = md.backend.get_cupy()
    if not getattr(cp, "__emulated__", False):
        pytest.skip("counts host transfers on the CuPy emulator (MINIDL_EMULATE_GPU=1)")
    keras.backend.clear_session()
    model = recipes.seed_cnn(keras)
    model.to(dev)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = recipes.images(n=64)
    model.fit(x[:8], y[:8], verbose=0)  # builds the optimizer
    x, y = cp.asarray(x), cp.asarray(y)
    counts = []
    for batch_size in (4, 16):
        cp.reset_host_syncs()
        model.fit(x, y, epochs=2, batch_size=batch_size, verbose=0, shuffle=False)
        counts.append(cp.reset_host_syncs())
    assert counts[0] == counts[1] <= 2 * 4, counts  # per epoch: 2 order copies, loss and accuracy
