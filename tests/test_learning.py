"""Learning works: a small CNN overfits a fixed batch of real MNIST images (issue 3)."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

import minidl as md
import minidl.functional as F
from minidl import nn, optim

BATCH = 64


def _read_idx(path: Path, header: int, count: int, item_bytes: int) -> np.ndarray:
    """The first `count` items of a gzipped IDX file, as uint8."""
    with gzip.open(path, "rb") as f:
        raw = f.read(header + count * item_bytes)
    return np.frombuffer(raw[header:], dtype=np.uint8)


@pytest.fixture
def mnist_batch(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    """The first 64 MNIST test images, (64, 1, 28, 28) float32 in [0, 1], and labels int64."""
    images, labels = (shared_data / "mnist" / f"t10k-{kind}-ubyte.gz" for kind in ("images-idx3", "labels-idx1"))
    if not (images.is_file() and labels.is_file()):
        pytest.skip(f"MNIST test split not found in {shared_data / 'mnist'}")
    x = _read_idx(images, 16, BATCH, 28 * 28).reshape(BATCH, 1, 28, 28).astype(np.float32) / 255
    y = _read_idx(labels, 8, BATCH, 1).astype(np.int64)
    return x, y


def test_small_cnn_overfits_a_fixed_mnist_batch(backend, mnist_batch):
    x_np, y_np = mnist_batch
    md.set_backend(backend)
    assert len(set(y_np.tolist())) == 10  # a real batch: every digit is there
    md.manual_seed(0)
    model = nn.Sequential(nn.Conv2D(1, 8, 3), nn.ReLU(), nn.MaxPool2D(2), nn.Flatten(),
                          nn.Dense(8 * 13 * 13, 10))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    x, y = md.tensor(x_np, device=backend), md.tensor(y_np, device=backend)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    final = F.cross_entropy(model(x), y).item()
    assert losses[0] > 1.5  # it started from chance (ln 10 = 2.3), so the drop is learning
    assert final < 0.05, f"loss after {len(losses)} Adam steps: {final:.4f} (history {losses[::10]})"
    accuracy = (model(x).numpy().argmax(axis=1) == y_np).mean()
    assert accuracy == 1.0
