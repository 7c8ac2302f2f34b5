"""keras.callbacks: Keras 3's behaviour (pinned where it writes files), and the engine's
side of it: stop_training, lazily computed batch logs, errors."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from minidl import keras
from minidl.keras import callbacks, layers

from . import recipes
from .expected import EXPECTED
from .test_against_keras import assert_same


def test_model_checkpoint_best_only_and_csv_logger_match_keras(tmp_path):
    keras.backend.clear_session()
    md.manual_seed(0)
    got = recipes.run_checkpoint_and_csv(keras, str(tmp_path))
    assert_same(got, EXPECTED["checkpoint_and_csv"], "checkpoint_and_csv")
    best = keras.models.load_model(tmp_path / got["files"][-1])
    assert best.evaluate(*recipes.vectors(n=40, seed=8)[:2], verbose=0)  # a loadable model


def model_and_data():
    keras.backend.clear_session()
    md.manual_seed(0)
    x, y, _ = recipes.vectors(n=32)
    model = keras.Sequential([layers.Dense(4, activation="relu", input_shape=(6,)),
                              layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    return model, x, y


def test_stop_training_from_a_batch_hook_ends_fit_after_that_batch():
    model, x, y = model_and_data()
    seen = []

    class StopAtThird(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)
            if batch == 2:
                self.model.stop_training = True
    history = model.fit(x, y, epochs=3, batch_size=4, verbose=0, callbacks=[StopAtThird()])
    assert seen == [0, 1, 2] and history.epoch == [0]


def test_terminate_on_nan_stops_when_the_loss_is_not_finite():
    model, x, y = model_and_data()
    x = x.copy()
    x[5, 0] = np.nan
    history = model.fit(x, y, epochs=3, batch_size=4, verbose=0, callbacks=[callbacks.TerminateOnNaN()])
    assert history.epoch == [0] and np.isnan(history.history["loss"][0])


def test_batch_logs_are_read_back_only_when_a_callback_looks():
    model, x, y = model_and_data()
    from minidl import training

    calls = []
    original = training._Tracker.result

    def counting(self, prefix=""):
        calls.append(prefix)
        return original(self, prefix)
    training._Tracker.result = counting
    try:
        model.fit(x, y, epochs=1, batch_size=4, verbose=0)
        quiet = len(calls)
        model.fit(x, y, epochs=1, batch_size=4, verbose=0,
                  callbacks=[callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: logs["loss"])])
    finally:
        training._Tracker.result = original
    assert quiet == 1 and len(calls) - quiet == 1 + 8  # the epoch's logs, then one per batch


def test_reduce_lr_on_plateau_waits_patience_and_cooldown_down_to_min_lr():
    model, x, y = model_and_data()
    plateau = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, cooldown=1,
                                          min_delta=100.0, min_lr=0.0025)
    history = model.fit(x, y, epochs=7, verbose=0, callbacks=[plateau])
    # Keras 3 gives [0.01, 0.01, 0.005, 0.0025, 0.0025, 0.0025, 0.0025] (as float32): the cooldown
    # counts down before the wait is checked, so cooldown=1 delays nothing here
    assert history.history["learning_rate"] == pytest.approx(
        [0.01, 0.01, 0.005, 0.0025, 0.0025, 0.0025, 0.0025], rel=1e-7)


def test_monitoring_an_unknown_metric_in_auto_mode_asks_for_a_mode():
    model, x, y = model_and_data()
    with pytest.raises(ValueError, match="mode='max'"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.EarlyStopping(monitor="f1")])
    with pytest.warns(UserWarning, match="`val_loss` which is not available"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.EarlyStopping()])


def test_a_callback_that_is_not_a_callback_is_refused():
    model, x, y = model_and_data()
    with pytest.raises(TypeError, match=r"callbacks\[0\] is a function"):
        model.fit(x, y, verbose=0, callbacks=[lambda: None])


def test_learning_rate_scheduler_must_return_a_float():
    model, x, y = model_and_data()
    with pytest.raises(ValueError, match="should be a float"):
        model.fit(x, y, verbose=0, callbacks=[callbacks.LearningRateScheduler(lambda e, lr: "0.1")])
