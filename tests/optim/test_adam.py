"""Adam and AdamW: PyTorch's update rules against hand-computed values."""
from __future__ import annotations

import math

import numpy as np
import pytest

import minidl as md
from minidl import optim
from minidl.nn import Parameter
from tests.helpers import assert_close
from tests.optim.common import P0, g, run


def adam_by_hand(lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled: bool = False, steps: int = 3) -> list[float]:
    """Adam / AdamW as in PyTorch's documentation, one Python float at a time."""
    b1, b2 = betas
    out = []
    for x in P0:
        m = v = 0.0
        for t in range(1, steps + 1):
            d = g(x)
            if decoupled:
                x = x * (1 - lr * weight_decay)
            else:
                d = d + weight_decay * x
            m = b1 * m + (1 - b1) * d
            v = b2 * v + (1 - b2) * d * d
            m_hat = m / (1 - b1 ** t)
            v_hat = v / (1 - b2 ** t)
            x = x - lr * m_hat / (math.sqrt(v_hat) + eps)
        out.append(x)
    return out


CONFIGS = [
    {},
    {"lr": 0.1},
    {"lr": 0.05, "betas": (0.5, 0.7), "eps": 1e-3},
    {"lr": 0.1, "betas": (0.8, 0.9), "eps": 1e-6, "weight_decay": 0.2},
    {"lr": 0.1, "betas": (0.0, 0.0)},
]
IDS = lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "defaults"


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_adam_matches_hand_computed_steps(backend, config):
    assert_close(run(optim.Adam, backend, **config), adam_by_hand(**config), rtol=1e-12)


@pytest.mark.parametrize("config", CONFIGS[:4] + [{"lr": 0.1, "weight_decay": 0.5}], ids=IDS)
def test_adamw_matches_hand_computed_steps(backend, config):
    expected = adam_by_hand(**{"weight_decay": 0.01, **config}, decoupled=True)
    assert_close(run(optim.AdamW, backend, **config), expected, rtol=1e-12)


def test_adam_first_step_moves_each_element_by_about_lr(backend):
    # step 1: m_hat = g and v_hat = g^2, so p1 = p0 - lr * g / (|g| + eps)
    gp = np.array([g(x) for x in P0])
    expected = np.array(P0) - 0.1 * gp / (np.abs(gp) + 1e-8)
    assert_close(run(optim.Adam, backend, steps=1, lr=0.1), expected, rtol=1e-13)


def test_adamw_with_zero_gradient_only_decays(backend):
    p = Parameter(md.tensor(P0, dtype="float64", device=backend))
    opt = optim.AdamW([p], lr=0.1, weight_decay=0.5)
    for _ in range(4):
        p.grad = md.zeros(3, dtype="float64", device=backend)
        opt.step()
    assert_close(p, np.array(P0) * 0.95 ** 4, rtol=1e-13)


@pytest.mark.parametrize("cls, expected", [
    # torch.optim.Adam / AdamW(lr=0.1, betas=(0.8, 0.9), eps=1e-3, weight_decay=0.1), 3 steps
    # from [1, -2, 0.5] with grad p**3 - p + 0.5, float64
    (optim.Adam, [0.7097456930325587, -1.7042736364428994, 0.2011476574781034]),
    (optim.AdamW, [0.6873998198682073, -1.6495050258073127, 0.19095294793838752]),
])
def test_adam_matches_torch_values(backend, cls, expected):
    p = run(cls, backend, lr=0.1, betas=(0.8, 0.9), eps=1e-3, weight_decay=0.1)
    assert_close(p, expected, rtol=1e-12)


def test_adam_state_and_in_place_update(backend):
    p = Parameter(md.tensor(P0, dtype="float32", device=backend))
    buffer = p.data
    grad = md.tensor([1.0, -1.0, 2.0], dtype="float32", device=backend)
    opt = optim.AdamW([p], lr=0.1)
    for _ in range(2):
        p.grad = grad
        opt.step()
    assert p.data is buffer and p.dtype == np.float32
    assert_close(grad, [1.0, -1.0, 2.0])
    state = opt.state[p]
    assert state["step"] == 2
    assert state["exp_avg"].dtype == np.float32
    # m2 = 0.9*0.1*g + 0.1*g, v2 = 0.999*0.001*g^2 + 0.001*g^2
    assert_close(state["exp_avg"], 0.19 * np.array([1.0, -1.0, 2.0]), rtol=1e-6)
    assert_close(state["exp_avg_sq"], 0.001999 * np.array([1.0, 1.0, 4.0]), rtol=1e-6)


def test_adam_defaults():
    p = Parameter(md.zeros(2))
    adam, adamw = optim.Adam([p]), optim.AdamW([p])
    assert adam.param_groups[0]["lr"] == 1e-3 and adam.param_groups[0]["betas"] == (0.9, 0.999)
    assert adam.param_groups[0]["eps"] == 1e-8 and adam.param_groups[0]["weight_decay"] == 0.0
    assert adamw.param_groups[0]["weight_decay"] == 0.01


@pytest.mark.parametrize("kwargs, match", [
    ({"lr": -1e-3}, "lr must be >= 0"),
    ({"betas": (1.0, 0.999)}, r"betas\[0\] must be in \[0, 1\)"),
    ({"betas": (0.9, -0.1)}, r"betas\[1\] must be >= 0"),
    ({"betas": (0.9,)}, "betas must be a pair"),
    ({"eps": -1e-8}, "eps must be >= 0"),
    ({"weight_decay": -0.1}, "weight_decay must be >= 0"),
])
@pytest.mark.parametrize("cls", [optim.Adam, optim.AdamW])
def test_adam_rejects_bad_hyperparameters(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls([Parameter(md.zeros(2))], **kwargs)


@pytest.mark.parametrize("cls", [optim.Adam, optim.AdamW])
def test_adam_step_with_a_bad_gradient_changes_nothing(cls):
    """Every gradient is checked before any parameter moves: a wrong shape in the last
    group leaves the parameters (and their state) as they were."""
    ps = [Parameter(np.ones(3, np.float32)), Parameter(np.ones((2, 2), np.float32)),
          Parameter(np.ones(4, np.float32))]
    opt = cls([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.1}])
    for p in ps:
        p.grad = md.tensor(np.full(p.shape, 0.5, np.float32))
    opt.step()
    before = [p.data.copy() for p in ps]
    ps[2].grad = md.tensor(np.ones(5, np.float32))
    with pytest.raises(ValueError, match=r"has shape \(5,\) but its parameter has shape \(4,\)"):
        opt.step()
    for p, b in zip(ps, before):
        np.testing.assert_array_equal(p.data, b)
    assert [opt.state[p]["step"] for p in ps] == [1, 1, 1]


def test_adam_updates_parameters_with_different_step_counts_in_one_group():
    """A parameter that missed steps (no gradient) keeps its own bias correction."""
    a, b = Parameter(np.ones(3)), Parameter(np.ones(3))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = md.tensor(np.full(3, 2.0))
    opt.step()  # b has no gradient: not stepped
    a.grad, b.grad = md.tensor(np.full(3, 2.0)), md.tensor(np.full(3, 2.0))
    opt.step()
    assert opt.state[a]["step"] == 2 and opt.state[b]["step"] == 1
    # a constant gradient moves Adam by lr per step, whatever the step count
    assert_close(a.data, np.full(3, 0.8), atol=1e-6)
    assert_close(b.data, np.full(3, 0.9), atol=1e-6)
