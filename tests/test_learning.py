"""Learning works: a small CNN overfits a fixed batch of real MNIST images (issue 3); a raw
PyTorch-style loop (`p -= lr * p.grad` under no_grad) trains as optim.SGD does (issue 13)."""
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


def _mlp_and_data(backend: str) -> tuple[nn.Module, md.Tensor, md.Tensor]:
    """A 10 -> 5 -> 2 sigmoid MLP and 64 samples of a rule it can learn (which half sums more)."""
    md.manual_seed(0)
    model = nn.Sequential(nn.Dense(10, 5), nn.Sigmoid(), nn.Dense(5, 2)).to(backend)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 10)).astype(np.float32)
    y = (x[:, :5].sum(axis=1) > x[:, 5:].sum(axis=1)).astype(np.int64)
    return model, md.tensor(x, device=backend), md.tensor(y, device=backend)


def test_raw_tensor_loop_learns_and_equals_optim_sgd_bit_for_bit(backend):
    """The first loop most PyTorch tutorials write: `p -= lr * p.grad` under no_grad."""
    lr, steps = 0.5, 60
    model, x, y = _mlp_and_data(backend)
    params = list(model.parameters())
    arrays = [p.data for p in params]
    losses = []
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        with md.no_grad():
            for p in params:
                p -= lr * p.grad
                p.grad = None
        losses.append(float(loss))
    # the same objects and arrays were updated: the model, its state_dict and any optimizer see it
    assert all(p is q and p.data is a for p, q, a in zip(params, model.parameters(), arrays))
    assert all(p.is_leaf and p.requires_grad for p in params)
    final = F.cross_entropy(model(x), y).item()
    assert final < 0.5 * losses[0], f"the loss did not fall: {losses[0]:.4f} -> {final:.4f}"

    reference, x2, y2 = _mlp_and_data(backend)
    opt = optim.SGD(reference.parameters(), lr=lr)
    for step in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(reference(x2), y2)
        loss.backward()
        opt.step()
        assert float(loss) == losses[step]
    for (name, a), b in zip(model.state_dict().items(), reference.state_dict().values()):
        assert np.array_equal(a, b), name


def test_raw_loop_with_zero_grad_accumulates_nothing(backend):
    """`p.grad.zero_()` (in place, as PyTorch tutorials do) instead of `p.grad = None`."""
    model, x, y = _mlp_and_data(backend)
    first = F.cross_entropy(model(x), y).item()
    for _ in range(30):
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        with md.no_grad():
            for p in model.parameters():
                p -= 0.5 * p.grad
                p.grad.zero_()
    assert F.cross_entropy(model(x), y).item() < 0.7 * first
