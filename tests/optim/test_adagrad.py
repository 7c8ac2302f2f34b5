"""Adagrad: PyTorch's update rule (values pinned from torch 2.13), state dicts."""
from __future__ import annotations

import math

import numpy as np
import pytest

import minidl as md
from minidl import optim
from minidl.nn import Parameter
from tests.helpers import assert_close
from tests.optim.common import P0, assert_resumes_exactly, g, run

# torch.optim.Adagrad(**config), 3 steps from [1, -2, 0.5] with grad p**3 - p + 0.5, float64
TORCH = [
    ({}, [0.9774858371262156, -1.9773204122451915, 0.4769797565067507]),
    ({"lr": 0.1}, [0.8053975635660221, -1.7891362174157264, 0.24871167428622037]),
    ({"lr": 0.1, "lr_decay": 0.5}, [0.8421571934439439, -1.8331612995505395, 0.3126432482237765]),
    ({"lr": 0.1, "weight_decay": 0.2, "initial_accumulator_value": 0.3, "eps": 1e-3},
     [0.8286907447688959, -1.7887871407305334, 0.39119658217136344]),
]


@pytest.mark.parametrize("config, expected", TORCH, ids=lambda c: str(c))
def test_matches_torch_values(backend, config, expected):
    assert_close(run(optim.Adagrad, backend, **config), expected, rtol=1e-12)


def test_matches_torch_in_float32(backend):
    # torch.optim.Adagrad(lr=0.1, lr_decay=0.1), 5 steps, float32
    p = run(optim.Adagrad, backend, steps=5, dtype="float32", lr=0.1, lr_decay=0.1)
    assert p.dtype == np.float32
    assert_close(p, [0.7709174156188965, -1.7465873956680298, 0.17539024353027344], rtol=1e-5)


def test_hand_computed_steps():
    # step 1: sum = g^2, so p1 = p0 - lr * g / (|g| + eps): every element moves by about lr
    expected = [x - 0.1 * g(x) / (abs(g(x)) + 1e-10) for x in P0]
    assert_close(run(optim.Adagrad, "numpy", steps=1, lr=0.1), expected, rtol=1e-12)
    # the accumulator after 3 steps is torch's `sum` state
    p = Parameter(md.tensor(P0, dtype="float64"))
    opt = optim.Adagrad([p], lr=0.1)
    for _ in range(3):
        p.grad = md.tensor(g(p.data))
        opt.step()
    assert_close(opt.state[p]["sum"], [0.4250, 65.0500, 0.0877], rtol=2e-3)
    assert opt.state[p]["step"] == 3
    assert math.isclose(p.numpy()[0], 0.8053975635660221, rel_tol=1e-12)


def test_defaults_and_bad_hyperparameters():
    opt = optim.Adagrad([Parameter(md.zeros(2))])
    group = {k: v for k, v in opt.param_groups[0].items() if k != "params"}
    assert group == {"lr": 1e-2, "lr_decay": 0.0, "weight_decay": 0.0, "initial_accumulator_value": 0.0,
                     "eps": 1e-10}
    for key in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
        with pytest.raises(ValueError, match=f"Adagrad: {key} must be >= 0"):
            optim.Adagrad([Parameter(md.zeros(2))], **{key: -0.5})


def test_resuming_from_saved_state_continues_exactly(backend, tmp_path):
    assert_resumes_exactly(lambda ps: optim.Adagrad(ps, lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1),
                           backend, tmp_path)


def test_bad_step_is_refused():
    p = Parameter(md.tensor(P0, dtype="float64"))
    opt = optim.Adagrad([p])
    p.grad = md.ones(3, dtype="float64")
    opt.step()
    sd = opt.state_dict()
    sd["state"][0]["step"] = "abc"
    with pytest.raises(ValueError, match="'step' of parameter 0 must be an integer >= 0, got 'abc'"):
        opt.load_state_dict(sd)
    assert opt.state[p]["step"] == 1
