"""keras.Sequential / keras.Model: building, the training API's return values and
arguments, weights, saving and loading, and the progress output."""
from __future__ import annotations

import re

import numpy as np
import pytest

import minidl as md
from minidl import keras
from minidl.keras import layers

from . import recipes


def small_cnn():
    keras.backend.clear_session()
    md.manual_seed(0)
    model = recipes.seed_cnn(keras)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_layers_build_from_input_shape_an_input_or_the_first_data():
    a = keras.Sequential([layers.Dense(4, input_shape=(3,)), layers.Dense(2)])
    b = keras.Sequential([keras.Input((3,)), layers.Dense(4), layers.Dense(2)])
    c = keras.Sequential()
    c.add(layers.Dense(4))
    c.add(layers.Dense(2))
    assert a.built and b.built and not c.built
    assert a.count_params() == b.count_params() == 4 * 3 + 4 + 4 * 2 + 2
    with pytest.raises(ValueError, match="not built yet"):
        c.count_params()
    c.predict(np.zeros((5, 3), np.float32), verbose=0)
    assert c.built and c.count_params() == a.count_params()
    assert [w.shape for w in c.get_weights()] == [(3, 4), (4,), (4, 2), (2,)]
    assert a.input_shape == (None, 3) and a.output_shape == (None, 2)


def test_evaluate_returns_a_float_or_a_list_in_compile_order_and_a_dict_on_request():
    x, y = recipes.images(n=20)
    model = small_cnn()
    loss, acc = model.evaluate(x, y, verbose=0)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs == {"accuracy": acc, "loss": loss}
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert isinstance(model.evaluate(x, y, verbose=0), float)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["sparse_categorical_accuracy", "acc"])
    values = model.evaluate(x, y, verbose=0)
    assert values == [pytest.approx(loss), pytest.approx(acc), pytest.approx(acc)]
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["mse"])
    with pytest.raises(ValueError, match=r"metric mse: labels of shape \(20,\).*\(20, 3\)"):
        model.evaluate(x, y, verbose=0)


def test_predict_returns_probabilities_in_batches():
    x, _ = recipes.images(n=70)
    model = small_cnn()
    p = model.predict(x, batch_size=32, verbose=0)
    assert isinstance(p, np.ndarray) and p.shape == (70, 3) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(p, model(x).numpy(), rtol=1e-6)


def test_fit_returns_history_with_epoch_params_and_model_history():
    x, y = recipes.images()
    model = small_cnn()
    history = model.fit(x, y, epochs=3, initial_epoch=1, verbose=0)
    assert history.epoch == [1, 2] and model.history is history
    assert history.params == {"verbose": 0, "epochs": 3, "steps": 2}
    assert list(history.history) == ["accuracy", "loss"]


def test_keras_fit_takes_batch_size_then_epochs_positionally_as_keras():
    x, y = recipes.images()
    model = small_cnn()
    history = model.fit(x, y, 8, 2, 0)
    assert history.params == {"verbose": 0, "epochs": 2, "steps": 5}


def test_unsupported_keras_arguments_are_refused_by_name():
    x, y = recipes.images()
    model = small_cnn()
    with pytest.raises(ValueError, match="sample_weight"):
        model.fit(x, y, sample_weight=np.ones(len(y)), verbose=0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'epoch'"):
        model.fit(x, y, epoch=3)
    with pytest.raises(RuntimeError, match="compile"):
        keras.Sequential([layers.Dense(1, input_shape=(2,))]).fit(np.zeros((2, 2)), np.zeros(2))


def test_get_set_weights_move_weights_between_models():
    x, _ = recipes.images(n=6)
    a, b = small_cnn(), small_cnn()
    recipes.set_weights(a, 3)
    b.set_weights(a.get_weights())
    np.testing.assert_array_equal(a.predict(x, verbose=0), b.predict(x, verbose=0))
    with pytest.raises(ValueError, match="expects a list of 6 arrays"):
        b.set_weights(a.get_weights()[:-1])


def test_save_and_load_model_rebuild_the_model_and_continue_training_identically(tmp_path):
    x, y = recipes.images()
    model = small_cnn()
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert [type(l).__name__ for l in loaded.layers] == [type(l).__name__ for l in model.layers]
    assert loaded.name == model.name and loaded.input_shape == (None, 8, 8, 1)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    h1 = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    h2 = loaded.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    assert h1 == h2  # the optimizer's state (Adam's moments and step) came back too
    assert md.load(path)["format"] == "minidl.keras.model"  # minidl's .npz, no pickle


def test_save_weights_and_load_weights(tmp_path):
    x, _ = recipes.images(n=5)
    a, b = small_cnn(), small_cnn()
    recipes.set_weights(a, 4)
    a.save_weights(tmp_path / "w.weights.h5")
    b.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_array_equal(a.predict(x, verbose=0), b.predict(x, verbose=0))
    with pytest.raises(ValueError, match="build the model first"):
        keras.Sequential([layers.Dense(2)]).load_weights(tmp_path / "w.weights.h5")
    (tmp_path / "foreign.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="foreign"):
        b.load_weights(tmp_path / "foreign.npz")


def test_a_model_with_a_custom_loss_saves_without_its_compile_settings(tmp_path):
    model = keras.Sequential([layers.Dense(1, input_shape=(2,))])
    model.compile(optimizer="sgd", loss=lambda y_true, y_pred: ((y_true - y_pred) ** 2).mean(axis=-1))
    model.fit(np.ones((4, 2), np.float32), np.ones((4, 1), np.float32), verbose=0)
    with pytest.warns(UserWarning, match="not saved"):
        model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert not loaded.compiled


def test_subclassed_model_trains_with_the_same_engine():
    class TwoLayer(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = layers.Dense(8, activation="relu")
            self.out = layers.Dense(3, activation="softmax")

        def call(self, inputs):
            return self.out(self.hidden(inputs))

    md.manual_seed(0)
    x, _, _ = recipes.vectors(n=60)
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0)
    model = TwoLayer()
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=15, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert [l.name for l in model.layers] == ["dense", "dense_1"]
    assert model.count_params() == 6 * 8 + 8 + 8 * 3 + 3


def test_frozen_layers_do_not_train():
    x, y = recipes.images()
    model = small_cnn()
    model.layers[0].trainable = False
    before = model.layers[0].get_weights()
    model.fit(x, y, epochs=1, verbose=0)
    for w0, w1 in zip(before, model.layers[0].get_weights()):
        np.testing.assert_array_equal(w0, w1)
    assert model.layers[3].get_weights()[0].shape == (36, 5)


# ---- progress output --------------------------------------------------------------------------

def test_verbose_2_prints_keras_epoch_lines_and_evaluate_line(capsys):
    x, y = recipes.images()
    model = small_cnn()
    model.fit(x, y, epochs=2, batch_size=16, validation_split=0.25, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    pattern = (r"2/2 - \d+s - \d+(ms|us|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}"
               r" - val_accuracy: \d\.\d{4} - val_loss: \d\.\d{4}")
    assert re.fullmatch(pattern, lines[1]) and re.fullmatch(pattern, lines[3])
    model.evaluate(x, y, verbose=2)
    assert re.fullmatch(r"2/2 - \d+s - \d+(ms|us|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}\n",
                        capsys.readouterr().out)


def test_verbose_1_redraws_a_bar_with_eta_and_ends_with_the_epoch_logs(capsys):
    x, y = recipes.images()
    model = small_cnn()
    model.fit(x, y, epochs=1, batch_size=8, verbose=1)
    out = capsys.readouterr().out
    final = out.split("\r")[-1]
    assert final.startswith("\x1b[1m5/5\x1b[0m \x1b[32m" + "━" * 20 + "\x1b[0m")
    assert re.search(r" \x1b\[1m\d+s\x1b\[0m \d+(ms|us|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}",
                     final) and final.endswith("\n")
    model.predict(x, verbose=1)
    assert "2/2" in capsys.readouterr().out
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""
