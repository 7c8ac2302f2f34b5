"""Train the seed CNN on MNIST with a plain PyTorch-style loop you can copy.

    python examples/mnist.py                              # the defaults (about 98.5% offline)
    python examples/mnist.py --epochs 3 --schedule none --shift 0 --batch-size 64   # plain Adam
    python examples/mnist.py --backend cupy               # on an NVIDIA GPU
    mpiexec -n 2 python examples/mnist.py --distributed   # data-parallel on 2 processes
    mpiexec -n 4 python examples/mnist.py --distributed --backend cupy   # 4 GPUs over NCCL

Data: the four MNIST IDX files, looked for in --data-root, $MINIDL_DATA/mnist,
../shared/data/mnist beside the project and ~/.cache/minidl/mnist, downloaded
into the cache when missing and a network is there. Offline with only the test
split, it trains on the first 8,000 test images and evaluates on the last 2,000.

Writes into --out: the weights (model.npz, read back with md.load), the training
curves (curves.png) and a JSON summary (summary.json).

Under MPI (--distributed, or found by itself when mpiexec starts it on several ranks)
every rank trains on its shard of each epoch at --batch-size images per rank (an
effective batch of ranks x batch size), gradients are averaged across ranks, and only
rank 0 prints, draws the progress bar and writes files (see docs/distributed.md).
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

import minidl as md
import minidl.distributed as dist
import minidl.functional as F
from minidl import nn, optim
from minidl.data import DataLoader, TensorDataset, random_shift
from minidl.training import History

MEAN, STD = 0.1307, 0.3081  # pixel statistics of the MNIST training set


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate of Adam")
    p.add_argument("--schedule", choices=["onecycle", "none"], default="onecycle",
                   help="onecycle: linear warm-up for the first 15%% of steps, then cosine decay to 0")
    p.add_argument("--shift", type=int, default=2, help="random shifts of +-N pixels (0: none)")
    p.add_argument("--backend", choices=["numpy", "cupy"], default="numpy")
    p.add_argument("--data-root", type=Path, default=None, help="folder holding mnist/ (or the files)")
    p.add_argument("--out", type=Path, default=Path("runs/mnist"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=None,
                   help="use only the first N training (and at most N test) images: a smoke test")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel over the ranks of `mpiexec -n N` (automatic when mpiexec "
                        "starts several ranks)")
    return p.parse_args(argv)


def log(*args, **kwargs) -> None:
    """print on rank 0 only (every rank runs this script under mpiexec)."""
    if dist.is_main_process():
        print(*args, **kwargs)


# ---- data -----------------------------------------------------------------------------------

def normalize(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28), standardised."""
    return ((images.astype(np.float32) / 255.0 - MEAN) / STD)[:, None]


# ---- model and training ---------------------------------------------------------------------

def build_model() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2D(1, 32, 3),        # (N, 1, 28, 28) -> (N, 32, 26, 26)
        nn.ReLU(),
        nn.MaxPool2D(2),            # -> (N, 32, 13, 13)
        nn.Flatten(),               # -> (N, 5408)
        nn.Dense(5408, 128),
        nn.ReLU(),
        nn.Dense(128, 10),          # class scores (logits)
    )


def one_cycle(step: int, total: int, peak: float, warmup: float = 0.15) -> float:
    """Learning rate at `step`: linear warm-up to `peak`, then cosine decay to zero."""
    rise = max(1, int(total * warmup))
    if step < rise:
        return peak * (step + 1) / rise
    progress = (step - rise) / max(1, total - rise)
    return peak * 0.5 * (1 + math.cos(math.pi * progress))


def evaluate(model: nn.Module, images: np.ndarray, labels: np.ndarray, batch_size: int = 500
             ) -> tuple[float, float]:
    """(mean loss, accuracy) without gradients, in eval mode."""
    model.eval()
    loss_sum, correct = 0.0, 0
    with md.no_grad():
        for xb, yb in DataLoader(TensorDataset(images, labels), batch_size=batch_size):
            logits = model(xb)
            loss_sum += F.cross_entropy(logits, yb).item() * len(yb)
            correct += int((logits.argmax(axis=1) == yb).sum().item())
    model.train()
    return loss_sum / len(labels), correct / len(labels)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.distributed or dist.launched_by_mpi():
        dist.init(backend=args.backend)  # first: on cupy it picks this rank's GPU
    world = dist.get_world_size()
    md.set_backend(args.backend)
    md.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    if not dist.is_main_process():
        dist.barrier()  # let rank 0 download the files first, so no two ranks write them
    train_x, train_y, test_x, test_y, source = md.datasets.load_mnist_splits(
        md.datasets.find_data_root(args.data_root), log=log)
    if dist.is_main_process():
        dist.barrier()
    if args.limit:
        train_x, train_y = train_x[:args.limit], train_y[:args.limit]
        test_x, test_y = test_x[:args.limit], test_y[:args.limit]
    test_inputs = normalize(test_x)
    log(f"data: {source}; training on {len(train_y):,} images, testing on {len(test_y):,}")

    net = build_model().to(args.backend)
    optimizer = optim.Adam(net.parameters(), lr=args.lr)
    # on several ranks: rank 0's weights everywhere, and optimizer.step() averages gradients first
    model = dist.DistributedDataParallel(net, optimizer=optimizer) if world > 1 else net
    sampler = dist.DistributedSampler(len(train_y), shuffle=True, seed=args.seed) if world > 1 else None
    steps_per_epoch = math.ceil((len(sampler) if sampler else len(train_y)) / args.batch_size)
    total_steps = args.epochs * steps_per_epoch
    log(f"model: {net.num_parameters():,} parameters; backend {md.get_backend()}; "
        f"{args.epochs} epochs of {steps_per_epoch} steps at batch {args.batch_size}"
        + (f" per rank on {world} ranks" if world > 1 else ""))

    history, step, train_seconds = History(), 0, 0.0
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        # a fresh random shift of every training image, then standardise
        images = random_shift(train_x, args.shift, rng) if args.shift else train_x
        if sampler is not None:  # this rank's shard of a permutation all ranks share
            sampler.set_epoch(epoch)
            loader = DataLoader(TensorDataset(normalize(images), train_y), batch_size=args.batch_size,
                                sampler=sampler)
        else:
            loader = DataLoader(TensorDataset(normalize(images), train_y), batch_size=args.batch_size,
                                shuffle=True, seed=args.seed + epoch)
        loss_sum, correct, seen = md.tensor(0.0), md.tensor(0), 0  # summed on the device
        epoch_start = time.perf_counter()
        bar = tqdm(loader, desc=f"epoch {epoch}/{args.epochs}", leave=False, unit="batch",
                   disable=None if dist.is_main_process() else True)  # None: off when not a TTY
        for xb, yb in bar:
            if args.schedule == "onecycle":
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
            if step % 20 == 0:  # reading the loss back syncs with a GPU: only now and then
                bar.set_postfix(loss=f"{loss_sum.item() / seen:.4f}", acc=f"{correct.item() / seen:.4f}")
        bar.close()
        seconds = time.perf_counter() - epoch_start
        train_seconds += seconds

        test_loss, test_acc = evaluate(net, test_inputs, test_y)
        totals = dist.all_reduce(np.array([loss_sum.item(), correct.item(), seen], dtype=np.float64))
        loss_total, correct_total, seen = totals[0], totals[1], int(totals[2])  # over every rank
        logs = {"loss": loss_total / seen, "accuracy": correct_total / seen,
                "val_loss": test_loss, "val_accuracy": test_acc}
        history.append(logs)
        log(f"epoch {epoch:2d}/{args.epochs}  loss {logs['loss']:.4f}  acc {logs['accuracy']:.4f}  "
            f"test loss {test_loss:.4f}  test acc {test_acc:.4f}  "
            f"({seconds:.1f} s, {seen / seconds:,.0f} img/s)")

    total = time.perf_counter() - start
    images_per_s = args.epochs * len(train_y) / train_seconds
    test_loss, test_acc = history.history["val_loss"][-1], history.history["val_accuracy"][-1]
    log(f"test accuracy {test_acc:.2%} on {len(test_y):,} images; time {total:.1f} s "
        f"(training {train_seconds:.1f} s, {images_per_s:,.0f} images/s"
        + (f" on {world} ranks)" if world > 1 else ")"))

    summary = {
        "test_accuracy": test_acc, "test_loss": test_loss, "data": source,
        "train_images": len(train_y), "test_images": len(test_y),
        "seconds_total": total, "seconds_training": train_seconds, "images_per_second": images_per_s,
        "backend": md.get_backend(), "parameters": net.num_parameters(), "ranks": world,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "history": history.history,
    }
    if not dist.is_main_process():  # the ranks hold the same weights: rank 0 writes them
        return summary
    args.out.mkdir(parents=True, exist_ok=True)
    md.save(net.state_dict(), args.out / "model.npz")
    try:
        history.plot(args.out / "curves.png", title=f"seed CNN on MNIST ({source})")
    except ImportError as exc:
        log(f"no plot: {exc}")
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    log(f"saved {args.out / 'model.npz'}, {args.out / 'curves.png'} and {args.out / 'summary.json'}")
    return summary


if __name__ == "__main__":
    main()
