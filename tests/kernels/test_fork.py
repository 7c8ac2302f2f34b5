"""fork() after the kernels ran: children run the trained model (issue 12, class 5).

GNU OpenMP, Numba's default threading layer on Linux without TBB, kills a forked child
at its first parallel kernel ("fork() called from a process already using GNU OpenMP"):
a fork-start Pool then never returns. minidl asks Numba for a fork-safe layer
(minidl/kernels/_numba.py); `NUMBA_THREADING_LAYER=omp python -m pytest
tests/kernels/test_fork.py` shows these tests failing on the OpenMP layer.
Not timed: each wait is bounded only so that a dead child fails the test instead of
hanging it.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time

import numpy as np
import pytest

import minidl as md
import minidl.functional as F
from minidl import nn, optim

pytestmark = pytest.mark.skipif(sys.platform == "win32" or not hasattr(os, "fork"),
                                reason="fork() is POSIX-only")
WAIT_S = 30.0
_MODEL: nn.Module | None = None  # the trained model, inherited by forked children


def _trained_cnn() -> nn.Module:
    """A small CNN trained a few steps with the kernels on (conv, pool, Adam run)."""
    md.manual_seed(0)
    net = nn.Sequential(nn.Conv2D(1, 4, 3), nn.ReLU(), nn.MaxPool2D(2), nn.Flatten(), nn.Dense(4 * 5 * 5, 3))
    opt = optim.Adam(net.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    x = md.tensor(rng.random((16, 1, 12, 12), dtype=np.float32))
    y = md.tensor(rng.integers(0, 3, 16))
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
    return net


def _forward(x: np.ndarray) -> np.ndarray:
    with md.no_grad():
        return _MODEL(md.tensor(x)).numpy()


@pytest.fixture
def trained(monkeypatch: pytest.MonkeyPatch) -> nn.Module:
    """The trained model, with every kernel on its parallel build (thresholds 0), so the
    threading layer really runs before the fork and again in the children."""
    global _MODEL
    from minidl.kernels import _route  # noqa: PLC0415

    for name in _route.TUNING:
        if name.endswith("PARALLEL_MIN"):
            monkeypatch.setitem(_route.TUNING, name, 0)
    _MODEL = _trained_cnn()
    yield _MODEL
    _MODEL = None


def _inputs() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.random((8, 1, 12, 12), dtype=np.float32) for _ in range(4)]


def test_fork_pool_runs_the_trained_model(trained):
    inputs = _inputs()
    expected = [_forward(x) for x in inputs]
    pool = mp.get_context("fork").Pool(2)
    try:
        got = pool.map_async(_forward, inputs).get(WAIT_S)  # a killed child: TimeoutError
    finally:
        pool.terminate()
        pool.join()
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-7)


def test_plain_fork_child_runs_the_model_and_exits_0(trained):
    x = _inputs()[0]
    expected = _forward(x)
    pid = os.fork()
    if pid == 0:  # the child: its exit code is the verdict
        code = 1
        try:
            code = 0 if np.allclose(_forward(x), expected, rtol=1e-6, atol=1e-7) else 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + WAIT_S
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    if done[0] == 0:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail(f"the forked child was still running after {WAIT_S:.0f} s")
    status = done[1]
    assert os.WIFEXITED(status), f"the forked child was killed by signal {os.WTERMSIG(status)}"
    assert os.WEXITSTATUS(status) == 0, f"the forked child exited with {os.WEXITSTATUS(status)}"



class _ModelOutputs:
    """A dataset whose items run the trained model: each worker process runs the kernels."""

    def __init__(self, inputs: list[np.ndarray]) -> None:
        self.inputs = inputs

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, i: int) -> np.ndarray:
        return _forward(self.inputs[i])


def test_dataloader_fork_workers_run_the_trained_model(trained):
    from minidl.data import DataLoader  # noqa: PLC0415

    inputs = _inputs()
    expected = [_forward(x) for x in inputs]
    loader = DataLoader(_ModelOutputs(inputs), batch_size=1, num_workers=2,
                        multiprocessing_context="fork", timeout=WAIT_S)
    got = [batch.numpy()[0] for batch in loader]  # a killed worker: an error naming it
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-7)
