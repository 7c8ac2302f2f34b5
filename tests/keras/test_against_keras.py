"""minidl.keras against Keras 3: the same models, weights, data and calls give the same
per-epoch histories (keys and values), evaluate and predict results, final weights,
callback hooks and logs, and summary text. The expected values are Keras 3's, pinned in
expected.py by make_expected.py (Keras is never imported here)."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from minidl import keras

from . import recipes
from .expected import EXPECTED

RTOL, ATOL = 2e-4, 1e-6  # float32 after a few epochs of training


def assert_same(got, expected, where="result"):
    """Equal structure, equal strings and keys (in order), numbers to float32 tolerance."""
    if isinstance(expected, dict):
        assert isinstance(got, dict), f"{where}: {type(got).__name__} instead of a dict"
        assert list(got) == list(expected), \
            f"{where}: keys {list(got)} != {list(expected)}"
        for key in expected:
            assert_same(got[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert isinstance(got, (list, tuple)), f"{where}: {got!r} is not a list"
        assert len(got) == len(expected), f"{where}: length {len(got)} != {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            assert_same(g, e, f"{where}[{i}]")
    elif isinstance(expected, str) or expected is None:
        assert got == expected, f"{where}:\n{got}\n!=\n{expected}"
    else:
        np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL, err_msg=where)


def run(name):
    keras.backend.clear_session()
    md.manual_seed(0)
    return recipes.RUNS[name](keras)


@pytest.mark.parametrize("name", ["seed_cnn", "binary_sgd_schedule", "rmsprop_categorical", "regression",
                                  "recurrent", "conv_zoo", "probabilities_without_softmax", "optimizers"])
def test_training_matches_keras(name):
    assert_same(run(name), EXPECTED[name], name)


def test_history_keys_are_in_keras_order():
    got = run("binary_sgd_schedule")["history"]
    assert list(got) == list(EXPECTED["binary_sgd_schedule"]["history"]) == [
        "accuracy", "loss", "mae", "val_accuracy", "val_loss", "val_mae", "learning_rate"]


def test_callback_hooks_order_arguments_and_logs_match_keras():
    assert_same(run("callback_trace"), EXPECTED["callback_trace"], "callback_trace")


def test_summaries_match_keras(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # Keras measured an 80-column console
    assert_same(run("summaries"), EXPECTED["summaries"], "summaries")


def test_early_stopping_stopped_and_restored_as_keras():
    got = run("rmsprop_categorical")
    assert got["epoch"] == [0, 1] and got["stopped_epoch"] == 1
