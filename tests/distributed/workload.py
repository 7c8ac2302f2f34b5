"""The tiny training job that the 2-rank run and the in-process reference both execute.

A small CNN on random 8x8 "images"; `train(..., rank, world)` trains on the shard a
DistributedSampler gives this rank with per-rank batch PER_RANK_BATCH, averaging
gradients through DistributedDataParallel; with world=1 and batch N*PER_RANK_BATCH it is
the one-process run over the same shuffled order (rank r's k-th batch holds positions
(k*B + j)*N + r of the epoch's permutation, so the ranks' k-th batches together are
exactly the one process's k-th batch of N*B).
"""
from __future__ import annotations

from typing import Any

import numpy as np

import minidl as md
import minidl.functional as F
from minidl import nn, optim, training
from minidl.data import DataLoader, TensorDataset
from minidl.distributed import DistributedDataParallel, DistributedSampler

N_SAMPLES, PER_RANK_BATCH, EPOCHS, SEED = 48, 4, 2, 3
# the optimizers under test, with the dtype each runs in and a bucket cap (MiB):
# tiny caps force several buckets per step
CASES = {
    "adam_f32": ("float32", 4.0),
    "sgd_f64": ("float64", 0.0005),
}


def data(dtype: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(42)
    x = rng.standard_normal((N_SAMPLES, 1, 8, 8)).astype(dtype)
    y = rng.integers(0, 4, size=N_SAMPLES).astype(np.int64)
    return x, y


def build_model(dtype: str, seed: int, wide: bool = False) -> nn.Sequential:
    md.manual_seed(seed)
    net = nn.Sequential(nn.Conv2D(1, 3, 3), nn.ReLU(), nn.MaxPool2D(2), nn.Flatten(),
                        nn.Dense(27, 5 if wide else 4))
    return net.astype(dtype)


def make_optimizer(case: str, params: Any) -> Any:
    if case.startswith("adam"):
        return optim.Adam(params, lr=0.01)
    return optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)


def train(case: str, rank: int, world: int, batch: int, init_seed: int,
          device: str = "numpy") -> dict[str, np.ndarray]:
    """Train this rank's shard at `batch` per step on `device`; returns the final parameters
    (name -> NumPy array)."""
    dtype, cap_mb = CASES[case]
    x, y = data(dtype)
    net = build_model(dtype, init_seed).to(device)  # initialised on the CPU: same draws everywhere
    opt = make_optimizer(case, net.parameters())
    model = DistributedDataParallel(net, optimizer=opt, bucket_cap_mb=cap_mb)
    sampler = DistributedSampler(N_SAMPLES, num_replicas=world, rank=rank, shuffle=True, seed=SEED)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch, sampler=sampler)
    for epoch in range(EPOCHS):
        sampler.set_epoch(epoch)
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb.to(device)), yb.to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()  # DistributedDataParallel's step hook averages the gradients first
    return {k: v for k, v in net.state_dict().items()}


def fit(batch: int, init_seed: int) -> tuple[dict[str, np.ndarray], dict[str, list[float]]]:
    """Keras-style fit without shuffling (the k-th batches of the ranks together are the
    one process's k-th batch); returns the final parameters and the History logs."""
    x, y = data("float32")
    net = build_model("float32", init_seed)
    net.compile(optim.SGD(net.parameters(), lr=0.1, momentum=0.9), "cross_entropy")
    history = net.fit(x, y, epochs=EPOCHS, batch_size=batch, shuffle=False, verbose=0,
                      validation_data=(x[:8], y[:8]))
    return dict(net.state_dict()), history.history


# ways to wire DistributedDataParallel, compile and fit around one optimizer: each must
# average gradients exactly once per step (counted by the caller on the process group)
WIRINGS = ("own loop, DDP(optimizer=)", "DDP(optimizer=) twice", "DDP(optimizer=), fit the wrapper",
           "DDP(optimizer=), fit the inner model", "DDP(), fit the wrapper", "fit after init()")
WIRED_STEPS = 6


def train_wired(wiring: str) -> int:
    """Train a tiny MLP for WIRED_STEPS steps in the job `init()` set up, wired as `wiring`;
    returns the number of optimizer steps taken."""
    md.manual_seed(0)
    net = nn.Sequential(nn.Dense(3, 4), nn.ReLU(), nn.Dense(4, 2))
    opt = optim.SGD(net.parameters(), lr=0.1)
    steps = []
    opt.register_step_post_hook(lambda o: steps.append(1))
    x = np.random.default_rng(0).standard_normal((12, 3)).astype(np.float32)
    y = np.arange(12) % 2
    keep = []  # wrappers whose hooks must live while training
    if wiring == "own loop, DDP(optimizer=)":
        model = DistributedDataParallel(net, optimizer=opt)
        for _ in range(WIRED_STEPS):
            opt.zero_grad()
            F.cross_entropy(model(md.tensor(x[:2])), md.tensor(y[:2])).backward()
            opt.step()
        return len(steps)
    if wiring == "DDP(optimizer=) twice":
        keep.append(DistributedDataParallel(net, optimizer=opt))
        model = DistributedDataParallel(net, optimizer=opt)  # while the first one lives
    elif wiring == "DDP(optimizer=), fit the wrapper":
        model = DistributedDataParallel(net, optimizer=opt)
    elif wiring == "DDP(optimizer=), fit the inner model":
        keep.append(DistributedDataParallel(net, optimizer=opt))
        model = net
    elif wiring == "DDP(), fit the wrapper":
        model = DistributedDataParallel(net)
    else:  # init() only: fit averages by itself
        model = net
    training.compile(model, opt, "cross_entropy")  # a wrapper is no Sequential: the functions
    # 12 samples over 2 ranks at 2 per step: 3 steps an epoch
    training.fit(model, x, y, epochs=WIRED_STEPS // 3, batch_size=2, verbose=0)
    return len(steps)
