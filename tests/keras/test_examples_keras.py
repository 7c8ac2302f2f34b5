"""The Keras examples run end to end on a few hundred real images."""
from __future__ import annotations

import ast
import importlib.util
import json
import re
import runpy
from pathlib import Path

import numpy as np

from minidl import keras

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def small_mnist(shared_data, monkeypatch, tmp_path, n_train=320, n_test=100):
    monkeypatch.setenv("MINIDL_DATA", str(shared_data))
    monkeypatch.setenv("MINIDL_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    full = keras.datasets.mnist.load_data

    def load_data(path=None):
        (x, y), (xt, yt) = full(path)
        return (x[:n_train], y[:n_train]), (xt[:n_test], yt[:n_test])
    monkeypatch.setattr(keras.datasets.mnist, "load_data", load_data)


def test_keras_mnist_seed_program_runs(shared_data, monkeypatch, tmp_path, capsys, recwarn):
    small_mnist(shared_data, monkeypatch, tmp_path)
    runpy.run_path(str(EXAMPLES / "keras_mnist.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert re.search(r"^4/4 - \d+s - \d+m?s/step - accuracy: 0\.\d{4} - loss: \d\.\d{4}$", out, re.M)
    assert "Epoch 5/5" in out
    predictions = re.findall(r"^\[([\d ]+)\]$", out, re.M)
    assert len(predictions) == 1 and len(predictions[0].split()) == 10


def test_keras_mnist_is_the_seed_program_with_only_the_import_changed():
    text = (EXAMPLES / "keras_mnist.py").read_text()
    imports = [ast.unparse(node) for node in ast.parse(text).body
               if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert imports == ["from minidl import keras", "from minidl.keras import layers"]
    for call in ("layers.Conv2D(32, (3, 3), activation='relu', input_shape=(28, 28, 1))",
                 "layers.MaxPooling2D((2, 2))", "layers.Dense(10, activation='softmax')",
                 "optimizer='adam'", "loss='sparse_categorical_crossentropy'", "metrics=['accuracy']",
                 "model.fit(x_train, y_train, epochs=5)", "model.evaluate(x_test, y_test, verbose=2)",
                 "model.predict(x_test)"):
        assert call in text


def test_keras_binary_cnn_runs_and_writes_its_curves(shared_data, monkeypatch, tmp_path, capsys, recwarn):
    small_mnist(shared_data, monkeypatch, tmp_path, n_train=600, n_test=300)
    spec = importlib.util.spec_from_file_location("keras_binary_cnn", EXAMPLES / "keras_binary_cnn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "run"
    summary = module.main(["--size", "32", "--epochs", "2", "--out", str(out)])
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((out / "summary.json").read_text())
    assert saved["digits"] == [4, 9] and 0.5 <= summary["test_accuracy"] <= 1.0
    assert set(saved["history"]) == {"accuracy", "loss", "val_accuracy", "val_loss"}
    assert np.isfinite(saved["history"]["val_loss"]).all()
    assert "Epoch 2/2" in capsys.readouterr().out
