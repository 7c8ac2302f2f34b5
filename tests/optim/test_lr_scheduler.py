"""StepLR and CosineAnnealingLR: PyTorch's learning rates, state dicts."""
from __future__ import annotations

import math
import types

import pytest

import minidl as md
from minidl import optim
from minidl.nn import Parameter
from minidl.optim.lr_scheduler import CosineAnnealingLR, StepLR


def make_opt(lrs: tuple[float, ...] = (0.3,)) -> optim.SGD:
    groups = [{"params": [Parameter(md.zeros(2, dtype="float64"))], "lr": lr} for lr in lrs]
    return optim.SGD(groups, lr=0.1)


def lrs_over(sched, opt, epochs: int) -> list[list[float]]:
    seen = [sched.get_last_lr()]
    for _ in range(epochs):
        opt.step()
        sched.step()
        seen.append(sched.get_last_lr())
        assert [g["lr"] for g in opt.param_groups] == seen[-1]
    return seen


def test_lr_scheduler_is_a_module():
    assert isinstance(optim.lr_scheduler, types.ModuleType)
    assert optim.lr_scheduler.StepLR is StepLR


def test_step_lr_values():
    opt = make_opt((0.3, 1.0))
    seen = lrs_over(StepLR(opt, step_size=3, gamma=0.5), opt, 7)
    # torch.optim.lr_scheduler.StepLR(step_size=3, gamma=0.5) from lr 0.3
    assert [s[0] for s in seen] == pytest.approx([0.3, 0.3, 0.3, 0.15, 0.15, 0.15, 0.075, 0.075],
                                                 rel=1e-12)
    assert [s[1] for s in seen] == pytest.approx([1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25], rel=1e-12)


def test_step_lr_default_gamma():
    opt = make_opt()
    seen = lrs_over(StepLR(opt, step_size=2), opt, 5)
    assert [s[0] for s in seen] == pytest.approx([0.3, 0.3, 0.03, 0.03, 0.003, 0.003], rel=1e-12)


def test_cosine_annealing_values():
    opt = make_opt()
    seen = [s[0] for s in lrs_over(CosineAnnealingLR(opt, T_max=4), opt, 9)]
    # torch.optim.lr_scheduler.CosineAnnealingLR(T_max=4) from 0.3: down to 0 and back up
    expected = [0.3, 0.256066017178, 0.15, 0.043933982822, 0.0, 0.043933982822, 0.15,
                0.256066017178, 0.3, 0.256066017178]
    assert seen == pytest.approx(expected, abs=1e-12)


def test_cosine_annealing_with_eta_min_follows_the_closed_form():
    opt = make_opt((0.3, 0.05))
    seen = lrs_over(CosineAnnealingLR(opt, T_max=5, eta_min=0.01), opt, 12)
    for t, row in enumerate(seen):
        for base, lr in zip((0.3, 0.05), row):
            assert lr == pytest.approx(0.01 + (base - 0.01) * (1 + math.cos(math.pi * t / 5)) / 2,
                                       rel=1e-12)
    assert seen[5][0] == pytest.approx(0.01, rel=1e-12)
    # torch value at epoch 1
    assert seen[1][0] == pytest.approx(0.272307464184, abs=1e-12)


@pytest.mark.parametrize("make_sched", [
    lambda o: StepLR(o, step_size=2, gamma=0.5), lambda o: CosineAnnealingLR(o, T_max=7, eta_min=0.02),
], ids=["StepLR", "CosineAnnealingLR"])
def test_scheduler_state_dict_resumes(make_sched, tmp_path):
    opt = make_opt()
    sched = make_sched(opt)
    for _ in range(3):
        sched.step()
    md.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, tmp_path / "s.npz")
    expected = lrs_over(sched, opt, 4)

    opt2 = make_opt((0.9,))
    sched2 = make_sched(opt2)
    ckpt = md.load(tmp_path / "s.npz")
    opt2.load_state_dict(ckpt["opt"])
    sched2.load_state_dict(ckpt["sched"])
    assert sched2.last_epoch == 3 and sched2.base_lrs == [0.3]
    assert lrs_over(sched2, opt2, 4) == expected


def test_scheduler_errors():
    opt = make_opt()
    with pytest.raises(ValueError, match="step_size must be an integer >= 1"):
        StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="T_max must be an integer >= 1"):
        CosineAnnealingLR(opt, T_max=2.5)
    with pytest.raises(TypeError, match="expected an Optimizer"):
        StepLR([0.1], step_size=1)
    sched = StepLR(opt, step_size=1)
    with pytest.raises(ValueError, match="lacks"):
        sched.load_state_dict({"last_epoch": 3})
