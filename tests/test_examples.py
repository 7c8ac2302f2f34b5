"""Each example runs end to end on a few hundred real images, so the examples cannot rot."""
from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minidl as md
import minidl.functional as F

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name: str, data: Path, out: Path, tmp_path: Path, *flags: str) -> str:
    env = dict(os.environ, MINIDL_DATA=str(data), MINIDL_OFFLINE="1",  # never download in tests
               XDG_CACHE_HOME=str(tmp_path / "cache"), MINIDL_BACKEND="numpy")
    # the minidl of this checkout, not whichever one is installed
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(EXAMPLES.parent), env.get("PYTHONPATH")) if p)
    done = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), "--epochs", "1",
                           "--out", str(out), *flags],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def check_outputs(out: Path, plot: str) -> dict:
    summary = json.loads((out / "summary.json").read_text())
    assert 0.0 <= summary["test_accuracy"] <= 1.0
    assert (out / plot).read_bytes()[:4] == b"\x89PNG"
    weights = md.load(out / "model.npz")
    assert weights and all(np.all(np.isfinite(v)) for v in weights.values())
    return summary


def test_mnist_cnn_smoke(shared_data, tmp_path):
    out = tmp_path / "mnist"
    stdout = run_example("mnist", shared_data, out, tmp_path, "--limit", "300", "--batch-size", "50")
    assert "test accuracy" in stdout and "images/s" in stdout
    summary = check_outputs(out, "curves.png")
    assert summary["train_images"] == 300
    assert set(md.load(out / "model.npz")) == {"0.weight", "0.bias", "4.weight", "4.bias",
                                                "6.weight", "6.bias"}


def test_mnist_bn_smoke(shared_data, tmp_path):
    out = tmp_path / "mnist_bn"
    stdout = run_example("mnist_bn", shared_data, out, tmp_path, "--limit", "300", "--batch-size", "50",
                         "--width", "4")
    assert "test accuracy" in stdout and "images/s" in stdout
    summary = check_outputs(out, "curves.png")
    assert summary["train_images"] == 300
    weights = md.load(out / "model.npz")
    # BatchNorm's running statistics are saved, under PyTorch's names
    assert {"1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked"} <= set(weights)
    assert int(weights["1.num_batches_tracked"]) == 6  # 300 images at batch 50, one epoch


def test_mnist_bn_gap_head_smoke(shared_data, tmp_path):
    out = tmp_path / "mnist_bn_gap"
    run_example("mnist_bn", shared_data, out, tmp_path, "--limit", "100", "--batch-size", "50",
                "--width", "4", "--head", "gap")
    assert check_outputs(out, "curves.png")["parameters"] == 1702  # convs 36+288+1152, BN 56, Dense 170


def test_mnist_lstm_smoke(shared_data, tmp_path):
    out = tmp_path / "mnist_lstm"
    stdout = run_example("mnist_lstm", shared_data, out, tmp_path, "--limit", "300", "--hidden", "32")
    assert "test accuracy" in stdout
    check_outputs(out, "curves.png")


def test_names_lstm_smoke(shared_data, tmp_path):
    out = tmp_path / "names"
    stdout = run_example("names_lstm", shared_data, out, tmp_path, "--limit", "600", "--hidden", "32")
    assert "held-out accuracy" in stdout and "per-language test accuracy" in stdout
    summary = check_outputs(out, "confusion.png")
    assert summary["train"] + summary["test"] == 600
    assert np.asarray(summary["confusion"]).sum() == summary["test"]


def load_example(name: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")  # the example sets it; undo that afterwards
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_names_classifier_reads_the_last_real_character_not_a_pad(monkeypatch):
    names_lstm = load_example("names_lstm", monkeypatch)
    md.manual_seed(0)
    model = names_lstm.NameClassifier(vocab_size=5, embed=4, hidden=6, classes=3).eval()
    short, long = np.array([1, 2]), np.array([3, 4, 5, 1])
    batch = np.array([[1, 2, 0, 0], [3, 4, 5, 1]])  # "short" padded with PAD=0
    together = model(md.tensor(batch), np.array([2, 4])).numpy()
    alone = [model(md.tensor(seq[None]), np.array([len(seq)])).numpy()[0] for seq in (short, long)]
    np.testing.assert_allclose(together, np.stack(alone), rtol=1e-5, atol=1e-6)


def test_names_split_is_stratified_80_20(monkeypatch):
    names_lstm = load_example("names_lstm", monkeypatch)
    labels = np.repeat(np.arange(3), [50, 20, 10])
    train, test = names_lstm.stratified_split(labels, 0.2, np.random.default_rng(0))
    assert np.bincount(labels[test]).tolist() == [10, 4, 2]
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(80))


def test_names_gpt_smoke(shared_data, tmp_path):
    out = tmp_path / "names_gpt"
    stdout = run_example("names_gpt", shared_data, out, tmp_path, "--limit", "400", "--d-model", "16",
                         "--heads", "2", "--layers", "1")
    assert "nats per character" in stdout and "Russian:" in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["train_names"] + summary["held_out_names"] == 400
    assert math.isfinite(summary["held_out_loss"]) and summary["held_out_loss"] > 0
    assert all(len(names) == 10 for names in summary["samples"].values())
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    weights = md.load(out / "model.npz")
    assert "blocks.layers.0.self_attn.in_proj_weight" in weights
    assert all(np.all(np.isfinite(v)) for v in weights.values())


def test_name_gpt_never_looks_ahead_and_its_loss_skips_pads(monkeypatch):
    names_gpt = load_example("names_gpt", monkeypatch)
    md.manual_seed(0)
    model = names_gpt.NameGPT(vocab=9, context=6, d_model=8, heads=2, layers=2, dropout=0.0).eval()
    tokens = np.array([[2, 5, 6, 7, 8, 1]])
    full = model(md.tensor(tokens)).numpy()
    prefix = model(md.tensor(tokens[:, :3])).numpy()
    np.testing.assert_allclose(full[:, :3], prefix, rtol=1e-5, atol=1e-6)  # the future is invisible
    logits = md.randn(1, 4, 9)
    padded = np.array([[5, 6, 0, 0]])
    loss, count = names_gpt.token_loss(logits, padded)
    want = F.cross_entropy(logits[0, :2], md.tensor([5, 6]))
    assert count == 2
    np.testing.assert_allclose(loss.item(), want.item(), rtol=1e-6)
