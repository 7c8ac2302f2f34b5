"""SGD: PyTorch's update rule (dampening 0) against hand-computed values."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from minidl import optim
from minidl.nn import Parameter
from tests.helpers import assert_close
from tests.optim.common import P0, g, run


def sgd_by_hand(lr: float, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0,
                steps: int = 3) -> list[float]:
    """PyTorch's documented SGD, one Python float at a time."""
    out = []
    for x in P0:
        buf = None
        for _ in range(steps):
            d = g(x) + weight_decay * x
            if momentum:
                buf = d if buf is None else momentum * buf + d
                d = d + momentum * buf if nesterov else buf
            x = x - lr * d
        out.append(x)
    return out


CONFIGS = [
    {"lr": 0.1},
    {"lr": 0.1, "weight_decay": 0.2},
    {"lr": 0.1, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.1},
    {"lr": 0.1, "momentum": 0.9, "nesterov": True},
    {"lr": 0.05, "momentum": 0.7, "nesterov": True, "weight_decay": 0.3},
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_sgd_matches_hand_computed_steps(backend, config):
    p = run(optim.SGD, backend, **config)
    assert_close(p, sgd_by_hand(**config), rtol=1e-12)


def test_sgd_constant_gradient_closed_forms(backend):
    # plain: p3 = p0 - 3*lr*c; momentum 0.9: buf = c, 1.9c, 2.71c, so p3 = p0 - lr*5.61c
    c = np.array([0.5, -1.0])
    for momentum, total in ((0.0, 3.0), (0.9, 5.61)):
        p = Parameter(md.tensor([1.0, 2.0], dtype="float64", device=backend))
        opt = optim.SGD([p], lr=0.1, momentum=momentum)
        for _ in range(3):
            p.grad = md.tensor(c, device=backend)
            opt.step()
        assert_close(p, np.array([1.0, 2.0]) - 0.1 * total * c, rtol=1e-12)


@pytest.mark.parametrize("config, expected", [
    # torch.optim.SGD, 3 steps from [1, -2, 0.5] with grad p**3 - p + 0.5, float64
    ({"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1},
     [0.6370479153955161, -0.3473476999948207, 0.3532078037438961]),
    ({"lr": 0.1, "momentum": 0.9}, [0.7589689411776912, -0.37491042917575557, 0.42812656587142417]),
])
def test_sgd_matches_torch_values(backend, config, expected):
    assert_close(run(optim.SGD, backend, **config), expected, rtol=1e-12)


def test_sgd_updates_in_place_and_leaves_grad_alone(backend):
    p = Parameter(md.tensor(P0, dtype="float32", device=backend))
    buffer = p.data
    grad = md.tensor([1.0, 2.0, 3.0], dtype="float32", device=backend)
    p.grad = grad
    opt = optim.SGD([p], lr=0.5, momentum=0.9, weight_decay=0.1)
    opt.step()
    opt.step()
    assert p.data is buffer and p.dtype == np.float32
    assert_close(grad, [1.0, 2.0, 3.0])
    assert opt.state[p]["momentum_buffer"].dtype == np.float32


def test_sgd_without_momentum_keeps_no_state(backend):
    p = Parameter(md.tensor(P0, dtype="float64", device=backend))
    opt = optim.SGD([p], lr=0.1)
    p.grad = md.Tensor(g(p.data))
    opt.step()
    assert opt.state_dict()["state"] == {}


@pytest.mark.parametrize("kwargs, match", [
    ({"lr": -0.1}, "lr must be >= 0"),
    ({"lr": 0.1, "momentum": -0.5}, "momentum must be >= 0"),
    ({"lr": 0.1, "weight_decay": -1.0}, "weight_decay must be >= 0"),
    ({"lr": 0.1, "nesterov": True}, "nesterov momentum requires momentum > 0"),
])
def test_sgd_rejects_bad_hyperparameters(kwargs, match):
    p = Parameter(md.zeros(2, dtype="float64"))
    with pytest.raises(ValueError, match=match):
        optim.SGD([p], **kwargs)


def test_sgd_rejects_non_numbers():
    with pytest.raises(TypeError, match="lr must be a number"):
        optim.SGD([Parameter(md.zeros(2))], lr="fast")


def test_sgd_needs_lr():
    with pytest.raises(TypeError):
        optim.SGD([Parameter(md.zeros(2))])  # type: ignore[call-arg]
