"""Shared pieces of the optimizer tests: a fixed gradient rule, a stepping loop, a tiny model."""
from __future__ import annotations

from typing import Any

import numpy as np

import minidl as md
from minidl.nn import Module, Parameter

P0 = [1.0, -2.0, 0.5]


def g(p: Any) -> Any:
    """The gradient used in hand-computed checks (works on floats and arrays)."""
    return p ** 3 - p + 0.5


def run(opt_cls: type, backend: str, steps: int = 3, p0: Any = P0, dtype: str = "float64",
        **kwargs: Any) -> Parameter:
    """Step `opt_cls` `steps` times on one parameter whose gradient is g(p)."""
    p = Parameter(md.tensor(p0, dtype=dtype, device=backend))
    opt = opt_cls([p], **kwargs)
    for _ in range(steps):
        p.grad = md.Tensor(g(p.data))
        opt.step()
    return p


class TinyNet(Module):
    """tanh(x @ w + b) @ v: a model built from core ops only."""

    def __init__(self, seed: int = 0, backend: str = "numpy") -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        self.w = Parameter(md.tensor(rng.standard_normal((3, 4)), device=backend))
        self.b = Parameter(md.tensor(rng.standard_normal(4), device=backend))
        self.v = Parameter(md.tensor(rng.standard_normal((4, 2)), device=backend))

    def forward(self, x: md.Tensor) -> md.Tensor:
        return (x @ self.w + self.b).tanh() @ self.v


def batch(step: int, backend: str = "numpy") -> tuple[md.Tensor, md.Tensor]:
    rng = np.random.default_rng(100 + step)
    x = md.tensor(rng.standard_normal((5, 3)), device=backend)
    y = md.tensor(rng.standard_normal((5, 2)), device=backend)
    return x, y


def train(model: TinyNet, opt: Any, steps: range, backend: str = "numpy") -> None:
    for step in steps:
        x, y = batch(step, backend)
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()


def assert_resumes_exactly(make_opt: Any, backend: str, tmp_path: Any) -> None:
    """Train 3 steps, checkpoint through md.save, train 2 more; a fresh model and optimizer
    loaded from the checkpoint and trained the same 2 steps end bit for bit the same."""
    model = TinyNet(backend=backend)
    opt = make_opt(model.parameters())
    train(model, opt, range(3), backend)
    md.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, tmp_path / "ckpt.npz")
    train(model, opt, range(3, 5), backend)

    fresh = TinyNet(seed=1, backend=backend)
    fresh_opt = make_opt(fresh.parameters())
    ckpt = md.load(tmp_path / "ckpt.npz")
    fresh.load_state_dict(ckpt["model"])
    fresh_opt.load_state_dict(ckpt["optimizer"])
    train(fresh, fresh_opt, range(3, 5), backend)
    for (name, p), q in zip(model.named_parameters(), fresh.parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=name)
