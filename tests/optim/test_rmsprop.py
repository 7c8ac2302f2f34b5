"""RMSprop: PyTorch's update rule (values pinned from torch 2.13), state dicts."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from minidl import optim
from minidl.nn import Parameter
from tests.helpers import assert_close
from tests.optim.common import P0, assert_resumes_exactly, g, run

# torch.optim.RMSprop(**config), 3 steps from [1, -2, 0.5] with grad p**3 - p + 0.5, float64
TORCH = [
    ({}, [0.8049478788977164, -1.788664528745062, 0.24831020948378196]),
    ({"lr": 0.05, "alpha": 0.9, "eps": 1e-3}, [0.7147110952156532, -1.6766613897769118, 0.08582358935074155]),
    ({"lr": 0.05, "momentum": 0.8}, [-0.7967680888344911, -0.6087533346196238, -1.9950546284074597]),
    ({"lr": 0.05, "centered": True}, [0.20755270606560358, -1.310957797691991, -0.9268139336270474]),
    ({"lr": 0.02, "alpha": 0.5, "eps": 1e-4, "weight_decay": 0.1, "momentum": 0.9, "centered": True},
     [0.7628779486115522, -1.753296845085595, 0.23983961273336338]),
]


@pytest.mark.parametrize("config, expected", TORCH, ids=lambda c: str(c))
def test_matches_torch_values(backend, config, expected):
    assert_close(run(optim.RMSprop, backend, **config), expected, rtol=1e-12)


def test_matches_torch_in_float32(backend):
    # torch.optim.RMSprop(lr=0.01, momentum=0.5, centered=True), 5 steps, float32
    p = run(optim.RMSprop, backend, steps=5, dtype="float32", lr=0.01, momentum=0.5, centered=True)
    assert p.dtype == np.float32
    assert_close(p, [0.5887147188186646, -1.535370945930481, -0.17333993315696716], rtol=1e-5)


def test_hand_computed_first_step():
    # v = (1-alpha) g^2, so p1 = p0 - lr * g / (sqrt(0.01) |g| + eps)
    expected = [x - 0.01 * g(x) / (0.1 * abs(g(x)) + 1e-8) for x in P0]
    assert_close(run(optim.RMSprop, "numpy", steps=1), expected, rtol=1e-12)


@pytest.mark.parametrize("config, keys", [
    ({}, ["square_avg", "step"]),
    ({"momentum": 0.8}, ["momentum_buffer", "square_avg", "step"]),
    ({"centered": True}, ["grad_avg", "square_avg", "step"]),
    ({"momentum": 0.8, "centered": True}, ["grad_avg", "momentum_buffer", "square_avg", "step"]),
])
def test_state_keys_are_pytorchs(config, keys):
    p = Parameter(md.tensor(P0, dtype="float64"))
    opt = optim.RMSprop([p], **config)
    p.grad = md.ones(3, dtype="float64")
    opt.step()
    assert sorted(opt.state_dict()["state"][0]) == keys
    assert opt.state_dict()["state"][0]["step"] == 1


def test_defaults_and_bad_hyperparameters():
    opt = optim.RMSprop([Parameter(md.zeros(2))])
    group = {k: v for k, v in opt.param_groups[0].items() if k != "params"}
    assert group == {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0,
                     "centered": False}
    for kwargs, match in (({"lr": -1.0}, "lr must be >= 0"), ({"alpha": -0.1}, "alpha must be >= 0"),
                          ({"eps": -1.0}, "eps must be >= 0"), ({"momentum": -0.5}, "momentum must be >= 0"),
                          ({"weight_decay": -1}, "weight_decay must be >= 0")):
        with pytest.raises(ValueError, match=f"RMSprop: {match}"):
            optim.RMSprop([Parameter(md.zeros(2))], **kwargs)
    with pytest.raises(TypeError, match="RMSprop: centered must be True or False, got 'yes'"):
        optim.RMSprop([Parameter(md.zeros(2))], centered="yes")


def test_grad_is_not_written_and_the_update_is_in_place(backend):
    p = Parameter(md.tensor(P0, dtype="float32", device=backend))
    buffer = p.data
    grad = md.tensor([1.0, -1.0, 2.0], dtype="float32", device=backend)
    opt = optim.RMSprop([p], weight_decay=0.1, momentum=0.9, centered=True)
    for _ in range(2):
        p.grad = grad
        opt.step()
    assert p.data is buffer and p.dtype == np.float32
    assert_close(grad, [1.0, -1.0, 2.0])
    assert all(v.dtype == np.float32 for v in opt.state[p].values() if hasattr(v, "dtype"))


@pytest.mark.parametrize("config", [{"lr": 0.01}, {"lr": 0.01, "momentum": 0.9, "centered": True}])
def test_resuming_from_saved_state_continues_exactly(backend, tmp_path, config):
    assert_resumes_exactly(lambda ps: optim.RMSprop(ps, **config), backend, tmp_path)


def test_bad_state_is_refused_and_changes_nothing():
    p = Parameter(md.tensor(P0, dtype="float64"))
    opt = optim.RMSprop([p], momentum=0.9)
    p.grad = md.ones(3, dtype="float64")
    opt.step()
    good = opt.state_dict()
    for corrupt, match in ((lambda s: s.update(step=-1), "'step' .* must be an integer >= 0, got -1"),
                           (lambda s: s.update(step=2.5), "must be an integer >= 0, got 2.5"),
                           (lambda s: s.update(bogus=np.ones(3)), "expected"),
                           (lambda s: s.pop("square_avg"), "expected")):
        sd = opt.state_dict()
        corrupt(sd["state"][0])
        with pytest.raises(ValueError, match=match):
            opt.load_state_dict(sd)
        after = opt.state_dict()
        assert after["state"][0]["step"] == 1
        np.testing.assert_array_equal(after["state"][0]["square_avg"], good["state"][0]["square_avg"])
    sd = opt.state_dict()
    sd["state"][0]["step"] = np.array(4.0)  # whole numbers read back by md.load are accepted
    opt.load_state_dict(sd)
    assert opt.state[p]["step"] == 4 and isinstance(opt.state[p]["step"], int)
