"""Read MNIST digits row by row with an LSTM: 28 time steps of 28 pixels each.

    python examples/mnist_lstm.py                       # the defaults
    python examples/mnist_lstm.py --epochs 1 --limit 500 --out /tmp/mnist_lstm   # a smoke test

Each image (28, 28) is a sequence of T=28 rows; an LSTM(28 -> 128) reads them
top to bottom and the hidden state after the last row feeds Dense(128 -> 10).
Data as examples/mnist.py: the train split when available, else (offline) the
first 8,000 test images for training and the last 2,000 for testing.
"""
from __future__ import annotations

import os

# The products here are small (batch x 128 x 512): one BLAS thread runs them fastest and
# avoids threads spinning against each other on a busy machine. Set before NumPy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

import minidl as md
import minidl.functional as F
from minidl import nn, optim
from minidl.data import DataLoader, TensorDataset
from minidl.training import History


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate of Adam (one-cycle)")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--backend", choices=["numpy", "cupy"], default="numpy")
    p.add_argument("--data-root", type=Path, default=None, help="folder holding mnist/ (or the files)")
    p.add_argument("--out", type=Path, default=Path("runs/mnist_lstm"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=None,
                   help="use only the first N training (and at most N test) images: a smoke test")
    return p.parse_args(argv)


class RowLSTM(nn.Module):
    """images (N, 28, 28) as sequences (N, T=28, 28) -> LSTM (N, T, H) -> last step (N, H) -> (N, 10)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(28, hidden)
        self.head = nn.Dense(hidden, 10)

    def forward(self, images: md.Tensor) -> md.Tensor:
        outputs, _ = self.lstm(images)
        return self.head(outputs[:, -1])  # every sequence has all 28 rows: the last step is real


def one_cycle(step: int, total: int, peak: float, warmup: float = 0.1) -> float:
    """Learning rate at `step`: linear warm-up to `peak`, then cosine decay to zero."""
    rise = max(1, int(total * warmup))
    if step < rise:
        return peak * (step + 1) / rise
    return peak * 0.5 * (1 + math.cos(math.pi * (step - rise) / max(1, total - rise)))


def evaluate(model: nn.Module, images: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(mean loss, accuracy) in eval mode without gradients."""
    model.eval()
    loss_sum, correct = 0.0, 0
    with md.no_grad():
        for xb, yb in DataLoader(TensorDataset(images, labels), batch_size=500):
            logits = model(xb)
            loss_sum += F.cross_entropy(logits, yb).item() * len(yb)
            correct += int((logits.argmax(axis=1) == yb).sum().item())
    model.train()
    return loss_sum / len(labels), correct / len(labels)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    md.set_backend(args.backend)
    md.manual_seed(args.seed)

    train_x, train_y, test_x, test_y, source = md.datasets.load_mnist_splits(
        md.datasets.find_data_root(args.data_root))
    if args.limit:
        train_x, train_y = train_x[:args.limit], train_y[:args.limit]
        test_x, test_y = test_x[:args.limit], test_y[:args.limit]
    train_x = train_x.astype(np.float32) / 255.0  # (N, 28, 28): rows are the time steps
    test_x = test_x.astype(np.float32) / 255.0
    print(f"data: {source}; training on {len(train_y):,} images, testing on {len(test_y):,}")

    model = RowLSTM(args.hidden).to(args.backend)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    loader = DataLoader(TensorDataset(train_x, train_y), batch_size=args.batch_size, shuffle=True,
                        seed=args.seed)
    total_steps, step = args.epochs * len(loader), 0

    history = History()
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        loss_sum, correct, seen = md.tensor(0.0), md.tensor(0), 0
        for xb, yb in tqdm(loader, desc=f"epoch {epoch}/{args.epochs}", leave=False, disable=None):
            for group in optimizer.param_groups:
                group["lr"] = one_cycle(step, total_steps, args.lr)
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            seen += len(yb)
            loss_sum = loss_sum + loss.detach() * len(yb)
            correct = correct + (logits.detach().argmax(axis=1) == yb).sum()
        test_loss, test_acc = evaluate(model, test_x, test_y)
        history.append({"loss": loss_sum.item() / seen, "accuracy": correct.item() / seen,
                        "val_loss": test_loss, "val_accuracy": test_acc})
        print(f"epoch {epoch:2d}/{args.epochs}  loss {loss_sum.item() / seen:.4f}  "
              f"acc {correct.item() / seen:.4f}  test acc {test_acc:.4f}  "
              f"({time.perf_counter() - start:.0f} s)")
    total = time.perf_counter() - start
    accuracy = history.history["val_accuracy"][-1]
    print(f"test accuracy {accuracy:.2%} on {len(test_y):,} images; time {total:.1f} s "
          f"({args.epochs * len(train_y) / total:,.0f} images/s including evaluation)")

    args.out.mkdir(parents=True, exist_ok=True)
    md.save(model.state_dict(), args.out / "model.npz")
    try:
        history.plot(args.out / "curves.png", title=f"row-by-row LSTM on MNIST ({source})")
    except ImportError as exc:
        print(f"no plot: {exc}")
    summary = {"test_accuracy": accuracy, "seconds_total": total, "data": source,
               "train_images": len(train_y), "test_images": len(test_y), "backend": md.get_backend(),
               "history": history.history,
               "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"saved {args.out / 'model.npz'}, {args.out / 'curves.png'} and {args.out / 'summary.json'}")
    return summary


if __name__ == "__main__":
    main()
