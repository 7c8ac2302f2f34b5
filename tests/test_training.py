"""Keras-style compile/fit/evaluate/predict and History, on a tiny real MNIST subset."""
from __future__ import annotations

import subprocess
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import minidl as md
import minidl.functional as F
from minidl import nn, optim
from minidl.training import History


@pytest.fixture
def mnist_small(shared_data):
    """600 real test images flattened to (N, 784) float32 in [0, 1]."""
    x, y = md.datasets.load_mnist("test", root=shared_data / "mnist", download=False)
    return (x[:600].reshape(600, -1) / 255.0).astype(np.float32), y[:600]


def mlp(seed: int = 0) -> nn.Sequential:
    md.manual_seed(seed)
    return nn.Sequential(nn.Dense(784, 32), nn.ReLU(), nn.Dense(32, 10))


def test_fit_lowers_the_loss_and_logs_every_key(mnist_small):
    x, y = mnist_small
    model = mlp()
    model.compile("adam", "sparse_categorical_crossentropy")
    history = model.fit(x[:500], y[:500], epochs=3, batch_size=50, validation_data=(x[500:], y[500:]),
                        verbose=0)
    assert isinstance(history, History)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 for v in history.history.values())
    losses = history.history["loss"]
    assert losses[2] < losses[1] < losses[0]
    assert history.history["accuracy"][-1] > 0.5  # PyTorch, same setup: 0.61-0.69
    assert history.history["val_loss"][-1] < history.history["val_loss"][0]


def test_evaluate_matches_the_loss_and_accuracy_over_all_rows(mnist_small):
    x, y = mnist_small
    model = mlp()
    model.compile("sgd", "cross_entropy")
    loss, acc = model.evaluate(x, y, batch_size=128)  # 600 = 4 * 128 + 88: uneven batches
    logits = model(md.tensor(x))
    assert loss == pytest.approx(F.cross_entropy(logits, md.tensor(y)).item(), rel=1e-5)
    assert acc == pytest.approx(float((logits.numpy().argmax(1) == y).mean()))


def test_predict_returns_numpy_outputs_for_every_row(mnist_small):
    x, _ = mnist_small
    model = mlp()
    out = model.predict(x[:300], batch_size=128)
    assert isinstance(out, np.ndarray) and out.shape == (300, 10) and out.dtype == np.float32
    np.testing.assert_allclose(out, model(md.tensor(x[:300])).numpy(), rtol=1e-6)


def test_float64_inputs_are_cast_to_the_model_dtype(mnist_small):
    x, _ = mnist_small
    assert mlp().predict(x[:4].astype(np.float64)).dtype == np.float32


def test_same_seed_same_history(mnist_small):
    x, y = mnist_small
    runs = []
    for _ in range(2):
        model = mlp(seed=3)
        model.compile(optim.Adam(model.parameters(), lr=1e-3), nn.CrossEntropyLoss())
        runs.append(model.fit(x[:200], y[:200], epochs=2, batch_size=32, verbose=0).history)
    assert runs[0] == runs[1]


def test_fit_trains_and_evaluate_predict_use_eval_mode_then_restore_it():
    md.manual_seed(0)
    model = nn.Sequential(nn.Dense(4, 8), nn.Dropout(0.5), nn.Dense(8, 3))
    seen = []

    class Spy(nn.Module):
        def forward(self, x):
            seen.append(self.training)
            return x
    model.append(Spy())
    model.compile("sgd", "cross_entropy")
    x = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    y = np.arange(10) % 3
    model.fit(x, y, epochs=1, batch_size=5, verbose=0)
    assert seen == [True, True]
    model.eval()
    model.evaluate(x, y)
    assert model.training is False
    model.train()
    a, b = model.predict(x), model.predict(x)  # dropout off: deterministic
    np.testing.assert_array_equal(a, b)
    assert model.training is True and seen[-1] is False


def test_regression_with_mse_has_no_accuracy():
    md.manual_seed(1)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32) + 0.3).astype(np.float32)
    model = nn.Sequential(nn.Dense(3, 1))
    model.compile(optim.SGD(model.parameters(), lr=0.1), "mse")
    history = model.fit(x, y, epochs=5, batch_size=16, validation_data=(x, y), verbose=0)
    assert set(history.history) == {"loss", "val_loss"}
    assert history.history["loss"][-1] < 0.1 * history.history["loss"][0]
    loss, acc = model.evaluate(x, y)
    assert acc is None and loss == pytest.approx(history.history["val_loss"][-1], rel=1e-5)


def test_probability_targets_with_cross_entropy_get_an_accuracy():
    model = nn.Sequential(nn.Dense(2, 2))
    model.compile("adam", "categorical_crossentropy")
    x = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    y = np.eye(2, dtype=np.float32)
    loss, acc = model.evaluate(x, y)
    assert acc in (0.0, 0.5, 1.0) and loss > 0


def test_no_metrics_means_no_accuracy():
    model = nn.Sequential(nn.Dense(2, 2))
    model.compile("sgd", "cross_entropy", metrics=())
    assert model.evaluate(np.ones((3, 2), np.float32), np.array([0, 1, 0]))[1] is None


def test_verbose_1_draws_keras_bar_2_prints_a_line_per_epoch_and_0_is_silent(capsys):
    model = nn.Sequential(nn.Dense(2, 2))
    model.compile("sgd", "cross_entropy")
    x, y = np.ones((8, 2), np.float32), np.array([0, 1] * 4)
    model.fit(x, y, epochs=1, batch_size=4, verbose=1)
    out = capsys.readouterr().out
    assert "\x1b[1m2/2\x1b[0m" in out and "━" in out and "ms/step" in out or "us/step" in out
    assert "- accuracy: " in out and "- loss: " in out and "Epoch" not in out  # Keras: no "Epoch 1/1"
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    model.fit(x, y, epochs=2, batch_size=4, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    assert re.fullmatch(r"2/2 - \d+s - \d+(ms|us|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}", lines[3])


def test_fit_before_compile_and_bad_names_raise():
    model = nn.Sequential(nn.Dense(2, 2))
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(np.ones((2, 2), np.float32), np.array([0, 1]), verbose=0)
    with pytest.raises(ValueError, match="optimizer 'nadam'"):
        model.compile("nadam", "mse")
    with pytest.raises(ValueError, match="loss 'hinge'.*binary_crossentropy, categorical_crossentropy"):
        model.compile("sgd", "hinge")
    with pytest.raises(ValueError, match="metric 'f1'.*accuracy"):
        model.compile("sgd", "mse", metrics=["f1"])
    with pytest.raises(TypeError, match="optimizer"):
        model.compile(42, "mse")


def test_history_plot_writes_a_png(tmp_path):
    history = History()
    for loss in (1.0, 0.5):
        history.append({"loss": loss, "accuracy": 1 - loss, "val_loss": loss, "val_accuracy": 0.4})
    path = history.plot(tmp_path / "sub" / "curve.png", title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_history_plot_without_matplotlib_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    history = History()
    history.append({"loss": 1.0})
    with pytest.raises(ImportError, match=r"minidl\[plot\]"):
        history.plot(tmp_path / "x.png")


def test_fit_in_a_job_of_one_does_not_import_distributed():
    code = ("import sys, numpy as np, minidl as md\n"
            "net = md.nn.Sequential(md.nn.Dense(3, 2))\n"
            "net.compile('sgd', 'cross_entropy')\n"
            "net.fit(np.ones((4, 3), np.float32), np.array([0, 1, 0, 1]), verbose=0)\n"
            "print(sorted(m for m in sys.modules if m.startswith('minidl.distributed')))")
    root = Path(__file__).resolve().parents[1]  # this checkout's minidl
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=root, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ---- every argument of fit is checked before the first step; empty data is refused ---------

def _counting_model():
    """A compiled Dense(3, 2) whose optimizer counts its steps."""
    md.manual_seed(0)
    model = nn.Sequential(nn.Dense(3, 2))
    model.compile(optim.SGD(model.parameters(), lr=0.1), "cross_entropy")
    steps = []
    model._compiled.optimizer.register_step_post_hook(lambda opt: steps.append(1))
    return model, steps


X, Y = np.ones((8, 3), np.float32), np.zeros(8, np.int64)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"epochs": 1.5}, TypeError, "fit: epochs must be an integer, got 1.5"),
    ({"epochs": -1}, ValueError, "fit: epochs must be >= 0, got -1"),
    ({"epochs": True}, TypeError, "fit: epochs must be an integer"),
    ({"batch_size": 0}, ValueError, "fit: batch_size must be >= 1, got 0"),
    ({"batch_size": "32"}, TypeError, "fit: batch_size must be an integer"),
    ({"validation_data": X}, TypeError, r"fit: validation_data must be a pair \(x_val, y_val\), got ndarray"),
    ({"validation_data": (X, Y, Y, Y)}, TypeError, "got a tuple of length 4"),
    ({"validation_data": (X, Y, Y)}, ValueError, "sample weights is not supported"),
    ({"validation_data": (X, Y[:5])}, ValueError,
     r"fit: validation_data\[0\] has 8 samples but validation_data\[1\] has 5"),
    ({"validation_data": (X[:0], Y[:0])}, ValueError, r"fit: validation_data\[0\] is empty"),
    ({"shuffle": "yes"}, TypeError, "fit: shuffle must be True or False"),
    ({"verbose": 3}, ValueError, r"verbose must be 0 \(silent\), 1 \(progress bar\), 2 .*got 3"),
    ({"initial_epoch": -1}, ValueError, "fit: initial_epoch must be >= 0, got -1"),
])
def test_fit_checks_every_argument_before_the_first_step(kwargs, error, match):
    model, steps = _counting_model()
    before = [p.numpy().copy() for p in model.parameters()]
    with pytest.raises(error, match=match):
        model.fit(X, Y, **{"verbose": 0, **kwargs})
    assert not steps
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.numpy(), b)


def test_fit_accepts_numpy_integers_for_epochs_and_batch_size():
    model, steps = _counting_model()
    history = model.fit(X, Y, epochs=np.int64(2), batch_size=np.int32(4), verbose=0)
    assert len(steps) == 4 and len(history.history["loss"]) == 2


@pytest.mark.parametrize("call", ["fit", "evaluate", "predict"])
def test_empty_data_is_refused_naming_the_empty_input(call):
    """fit/evaluate on empty data used to report loss 0.0; now they raise, naming x."""
    model, steps = _counting_model()
    args = (X[:0],) if call == "predict" else (X[:0], Y[:0])
    with pytest.raises(ValueError, match=rf"{call}: x is empty \(shape \(0, 3\)\)"):
        getattr(model, call)(*args, **({"verbose": 0} if call == "fit" else {}))
    assert not steps


def test_fit_and_evaluate_refuse_mismatched_lengths():
    model, _ = _counting_model()
    with pytest.raises(ValueError, match="fit: x has 8 samples but y has 5"):
        model.fit(X, Y[:5], verbose=0)
    with pytest.raises(ValueError, match="evaluate: x has 8 samples but y has 5"):
        model.evaluate(X, Y[:5])
# ---- Keras's semantics for probability outputs (issue 13, item 3) ---------------------------

def _data(n=24, features=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, features)).astype(np.float32), rng.integers(0, classes, size=n)


def test_a_softmax_output_trains_from_its_logits_like_the_same_model_without_it():
    x, y = _data()
    runs = []
    for head in ([], [nn.Softmax()]):
        model = mlp_small(head)
        model.compile(optim.SGD(model.parameters(), lr=0.5), "sparse_categorical_crossentropy")
        history = model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
        runs.append((history.history, model))
    (logits_hist, logits_model), (probs_hist, probs_model) = runs
    np.testing.assert_allclose(probs_hist["loss"], logits_hist["loss"], rtol=1e-6)
    assert probs_hist["accuracy"] == logits_hist["accuracy"]
    probs = probs_model.predict(x)  # predict gives the softmax's probabilities
    np.testing.assert_allclose(probs, F.softmax(md.tensor(logits_model.predict(x))).numpy(), rtol=1e-5)
    # the double softmax it replaced: cross-entropy of the probabilities taken as logits
    doubled = F.cross_entropy(md.tensor(probs), md.tensor(y)).item()
    assert abs(probs_model.evaluate(x, y)[0] - doubled) > 0.02


def mlp_small(head, seed=5, out=3):
    md.manual_seed(seed)
    return nn.Sequential(nn.Dense(4, 6), nn.Tanh(), nn.Dense(6, out), *head)


def test_softmax_output_loss_is_stable_for_saturated_logits():
    model = nn.Sequential(nn.Dense(2, 2), nn.Softmax())
    model[0].weight.data[...] = np.array([[200.0, -200.0], [0.0, 0.0]], np.float32)
    model.compile("sgd", "sparse_categorical_crossentropy")
    loss, acc = model.evaluate(np.array([[1.0, 0.0]], np.float32), np.array([1]))
    assert loss == pytest.approx(400.0, rel=1e-6) and acc == 0.0  # log(softmax) would give inf


def test_a_one_unit_sigmoid_output_gets_binary_accuracy_at_threshold_half():
    x, _ = _data(n=40)
    y = (x[:, 0] + 0.3 * x[:, 1] > 0).astype(np.float32)
    model = mlp_small([nn.Sigmoid()], out=1)
    model.compile(optim.SGD(model.parameters(), lr=0.3), "binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=10, verbose=0)
    loss, acc = model.evaluate(x, y)
    p = model.predict(x)[:, 0]
    assert acc == pytest.approx(float(((p > 0.5) == y).mean()))
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert loss == pytest.approx(float(expected), rel=1e-5)
    assert 0.0 < acc < 1.0 and acc != pytest.approx(float((y == 0).mean()))  # not argmax of one column


def test_a_one_unit_logit_output_with_binary_crossentropy_thresholds_its_logits_at_zero():
    x, _ = _data(n=30)
    y = (x[:, 0] > 0).astype(np.float32)
    model = mlp_small([], out=1)
    model.compile("adam", "binary_crossentropy")
    loss, acc = model.evaluate(x, y)
    z = model.predict(x)[:, 0]
    assert acc == pytest.approx(float(((z > 0) == y).mean()))
    assert loss == pytest.approx(F.binary_cross_entropy_with_logits(md.tensor(z), md.tensor(y)).item(),
                                 rel=1e-5)


def test_fit_arguments_after_y_are_keyword_only():
    model = nn.Sequential(nn.Dense(4, 3))
    model.compile("sgd", "cross_entropy")
    x, y = _data()
    before = model.state_dict()
    with pytest.raises(TypeError, match=r"by name.*batch_size, epochs"):
        model.fit(x, y, 64, 1)
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())  # nothing trained


def test_validation_split_holds_out_the_last_fraction_before_shuffling():
    x, y = _data(n=40)
    model = mlp_small([])
    model.compile("adam", "cross_entropy")
    history = model.fit(x, y, epochs=1, batch_size=8, validation_split=0.25, verbose=0)
    val_loss, val_acc = model.evaluate(x[30:], y[30:])
    assert history.history["val_loss"] == [pytest.approx(val_loss, rel=1e-6)]
    assert history.history["val_accuracy"] == [pytest.approx(val_acc)]
    with pytest.raises(ValueError, match="not sufficient"):
        model.fit(x[:1], y[:1], validation_split=0.1, verbose=0)


def test_initial_epoch_and_callbacks_with_an_nn_model():
    from minidl.keras import callbacks  # noqa: PLC0415

    x, y = _data(n=32)
    model = mlp_small([])
    opt = optim.SGD(model.parameters(), lr=0.1)
    model.compile(opt, "cross_entropy")
    seen = []
    record = callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: seen.append(opt.param_groups[0]["lr"]))
    schedule = callbacks.LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))
    history = model.fit(x, y, epochs=4, initial_epoch=2, verbose=0, callbacks=[schedule, record])
    assert history.epoch == [2, 3] and seen == [pytest.approx(0.1 / 3), pytest.approx(0.1 / 4)]
    assert history.history["learning_rate"] == [pytest.approx(0.1 / 3), pytest.approx(0.1 / 4)]


def test_early_stopping_restores_an_nn_model_through_its_state_dict():
    from minidl.keras import callbacks  # noqa: PLC0415

    x, y = _data(n=32)
    model = mlp_small([])
    model.compile(optim.SGD(model.parameters(), lr=5.0), "cross_entropy")  # a rate that diverges
    snapshots = []
    keep = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(model.state_dict()))
    stop = callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=100.0, restore_best_weights=True)
    history = model.fit(x, y, epochs=5, verbose=0, callbacks=[keep, stop])
    assert history.epoch == [0, 1]
    assert all(np.array_equal(v, snapshots[0][k]) for k, v in model.state_dict().items())
