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
    lambda o: optim.lr_scheduler.ExponentialLR(o, 0.8), lambda o: optim.lr_scheduler.LinearLR(o, 0.2, 0.9, 4),
    lambda o: optim.lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=9, anneal_strategy="linear"),
    lambda o: optim.lr_scheduler.SequentialLR(o, [optim.lr_scheduler.LinearLR(o, 0.1, total_iters=2),
                                                  optim.lr_scheduler.ExponentialLR(o, 0.5)], [2]),
], ids=["StepLR", "CosineAnnealingLR", "ExponentialLR", "LinearLR", "OneCycleLR", "SequentialLR"])
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
    assert sched2.last_epoch == 3 and sched2.base_lrs == sched.base_lrs
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


# ---- Version 2: LambdaLR, ExponentialLR, LinearLR, OneCycleLR, SequentialLR, ReduceLROnPlateau ----
# Every expected sequence below is torch 2.13's: the same scheduler on torch.optim.SGD with
# param groups of lr 0.3 (and 1.0), get_last_lr() after construction and after each step.

from minidl.optim.lr_scheduler import (  # noqa: E402
    ExponentialLR, LambdaLR, LinearLR, OneCycleLR, ReduceLROnPlateau, SequentialLR,
)


def assert_lrs(seen, expected):
    assert len(seen) == len(expected)
    for row, want in zip(seen, expected):
        assert row == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_lambda_lr_values():
    opt = make_opt((0.3, 1.0))
    assert_lrs(lrs_over(LambdaLR(opt, lambda e: 0.95 ** e), opt, 5), [
        [0.3, 1.0], [0.285, 0.95], [0.27075, 0.9025], [0.25721249999999996, 0.8573749999999999],
        [0.24435187499999994, 0.8145062499999999], [0.2321342812499999, 0.7737809374999998]])
    opt = make_opt((0.3, 1.0))
    assert_lrs(lrs_over(LambdaLR(opt, [lambda e: 1 / (e + 1), lambda e: e]), opt, 4),
               [[0.3, 0.0], [0.15, 1.0], [0.09999999999999999, 2.0], [0.075, 3.0], [0.06, 4.0]])


def test_exponential_lr_values():
    opt = make_opt((0.3, 1.0))
    assert_lrs(lrs_over(ExponentialLR(opt, 0.9), opt, 6), [
        [0.3, 1.0], [0.27, 0.9], [0.24300000000000002, 0.81], [0.21870000000000003, 0.7290000000000001],
        [0.19683000000000003, 0.6561000000000001], [0.17714700000000003, 0.5904900000000002],
        [0.15943230000000003, 0.5314410000000002]])


def test_linear_lr_values():
    opt = make_opt()
    assert_lrs(lrs_over(LinearLR(opt), opt, 8), [[0.1], [0.14], [0.18], [0.22], [0.26], [0.3], [0.3],
                                                  [0.3], [0.3]])
    opt = make_opt()
    assert_lrs(lrs_over(LinearLR(opt, start_factor=0.5, end_factor=0.1, total_iters=3), opt, 5),
               [[0.15], [0.11], [0.07], [0.03], [0.03], [0.03]])


def test_chained_schedules_compose_as_pytorchs():
    opt = make_opt()
    warm, decay = LinearLR(opt, start_factor=0.25, total_iters=4), ExponentialLR(opt, 0.9)
    seen = [[g["lr"] for g in opt.param_groups]]
    for _ in range(6):
        opt.step()
        warm.step()
        decay.step()
        seen.append([g["lr"] for g in opt.param_groups])
    assert_lrs(seen, [[0.075], [0.118125], [0.151875], [0.17769375], [0.19683000000000003],
                      [0.17714700000000003], [0.15943230000000003]])


def test_one_cycle_lr_values():
    opt = make_opt()
    sched = OneCycleLR(opt, max_lr=1.0, total_steps=10)
    assert_lrs(lrs_over(sched, opt, 10), [
        [0.04], [0.52], [1.0], [0.9504846320134737], [0.8117456539497631], [0.6112620219362893],
        [0.38874197806371075], [0.18825834605023697], [0.049519367986526286], [4e-06],
        [0.04951936798652623]])
    with pytest.raises(ValueError, match="OneCycleLR: tried to step 11 times; the specified number "
                                         "of total steps is 10"):
        sched.step()


def test_one_cycle_lr_three_phase_linear_per_group():
    opt = make_opt((0.3, 1.0))
    sched = OneCycleLR(opt, max_lr=[0.5, 2.0], total_steps=12, pct_start=0.25, anneal_strategy="linear",
                       div_factor=10.0, final_div_factor=100.0, three_phase=True)
    assert_lrs(lrs_over(sched, opt, 12), [
        [0.05, 0.2], [0.275, 1.1], [0.5, 2.0], [0.275, 1.1], [0.05, 0.2],
        [0.042928571428571434, 0.17171428571428574], [0.03585714285714286, 0.14342857142857143],
        [0.02878571428571429, 0.11514285714285716], [0.021714285714285717, 0.08685714285714287],
        [0.014642857142857145, 0.05857142857142858], [0.007571428571428576, 0.030285714285714305],
        [0.0005, 0.002], [-0.006571428571428568, -0.026285714285714273]])
    group = opt.param_groups[1]
    assert (group["initial_lr"], group["max_lr"], group["min_lr"]) == pytest.approx((0.2, 2.0, 0.002))


def test_sequential_lr_values():
    opt = make_opt()
    sched = SequentialLR(opt, [LinearLR(opt, start_factor=0.1, total_iters=3), ExponentialLR(opt, gamma=0.9)],
                         milestones=[3])
    assert_lrs(lrs_over(sched, opt, 8), [[0.03], [0.12], [0.21], [0.3], [0.27], [0.243], [0.2187],
                                         [0.19683], [0.177147]])
    opt = make_opt((0.3, 1.0))
    sched = SequentialLR(opt, [ExponentialLR(opt, gamma=0.5), LinearLR(opt, start_factor=0.2, total_iters=2),
                               LambdaLR(opt, lambda e: 1 / (1 + e))], milestones=[2, 5])
    assert_lrs(lrs_over(sched, opt, 8), [
        [0.3, 1.0], [0.15, 0.5], [0.06, 0.2], [0.18, 0.6], [0.3, 1.0], [0.3, 1.0], [0.15, 0.5],
        [0.09999999999999999, 0.3333333333333333], [0.075, 0.25]])


def plateau_over(sched, opt, metrics):
    seen = [sched.get_last_lr()]
    for m in metrics:
        opt.step()
        sched.step(m)
        seen.append(sched.get_last_lr())
        assert [g["lr"] for g in opt.param_groups] == seen[-1]
    return seen


METRICS = [1.0, 0.9, 0.95, 0.93, 0.92, 0.95, 0.96, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]


def test_reduce_lr_on_plateau_values():
    opt = make_opt((0.3, 1.0))
    sched = ReduceLROnPlateau(opt, factor=0.5, patience=2, cooldown=1, min_lr=[0.05, 0.0])
    assert_lrs(plateau_over(sched, opt, METRICS),
               [[0.3, 1.0]] * 5 + [[0.15, 0.5]] * 6 + [[0.075, 0.25]] * 3)
    opt = make_opt()
    sched = ReduceLROnPlateau(opt, mode="max", factor=0.1, patience=0, threshold=0.05, threshold_mode="abs")
    assert_lrs(plateau_over(sched, opt, METRICS), [
        [0.3], [0.3], [0.03], [0.003], [0.0003], [3e-05], [3e-06], [3e-07], [3e-08]] + [[3e-09]] * 5)
    opt = make_opt()
    sched = ReduceLROnPlateau(opt)  # defaults: patience 10, factor 0.1
    assert_lrs(plateau_over(sched, opt, [1.0] * 13), [[0.3]] * 12 + [[0.03]] * 2)


def test_reduce_lr_on_plateau_reads_tensors_and_respects_min_lr():
    opt = make_opt()
    sched = ReduceLROnPlateau(opt, patience=0, min_lr=0.1)
    for value in (1.0, 2.0, 3.0, 4.0):
        sched.step(md.tensor(value))
    assert opt.param_groups[0]["lr"] == 0.1 and sched.num_bad_epochs == 0 and sched.best == 1.0


def test_plateau_state_dict_resumes(tmp_path):
    opt = make_opt()
    plateau = ReduceLROnPlateau(opt, factor=0.5, patience=1, cooldown=2)
    plateau_over(plateau, opt, METRICS[:5])
    md.save({"opt": opt.state_dict(), "sched": plateau.state_dict()}, tmp_path / "p.npz")
    expected = plateau_over(plateau, opt, METRICS[5:])
    opt2 = make_opt((0.9,))
    plateau2 = ReduceLROnPlateau(opt2, factor=0.5, patience=1, cooldown=2)
    ckpt = md.load(tmp_path / "p.npz")
    opt2.load_state_dict(ckpt["opt"])
    plateau2.load_state_dict(ckpt["sched"])
    assert plateau_over(plateau2, opt2, METRICS[5:]) == expected


@pytest.mark.parametrize("corrupt, match", [
    ({"last_epoch": -5}, "last_epoch must be an integer >= -1, got -5"),
    ({"last_epoch": "abc"}, "last_epoch must be an integer"),
    ({"gamma": "abc"}, "gamma must be a number"),
    ({"gamma": -1.0}, r"gamma must be in \[0.0, inf\], got -1.0"),
    ({"base_lrs": [0.1, 0.2]}, "base_lrs must hold one number per param group"),
    ({"_last_lr": [float("nan")]}, "_last_lr must be in"),
    ({"gamma": float("inf")}, r"gamma must be in \[0.0, inf\], got inf"),
    ({"_last_lr": [float("inf")]}, "_last_lr must be in"),
    ({"base_lrs": [float("inf")]}, "base_lrs must be in"),
    ({"last_epoch": 2.5}, "last_epoch must be an integer"),
    ({"last_epoch": None}, "last_epoch must be an integer"),
])
def test_bad_scheduler_state_is_refused_and_changes_nothing(corrupt, match):
    opt = make_opt()
    sched = ExponentialLR(opt, 0.5)
    sched.step()
    before = sched.state_dict()
    with pytest.raises((ValueError, TypeError), match=match):
        sched.load_state_dict({**before, **corrupt})
    assert sched.state_dict() == before


def test_new_scheduler_argument_errors():
    opt = make_opt()
    for make, error, match in [
        (lambda: LambdaLR(opt, [lambda e: 1, lambda e: 2]), ValueError, "expected 1 lr_lambdas"),
        (lambda: LambdaLR(opt, 0.5), TypeError, "lr_lambda 0 must be callable"),
        (lambda: LinearLR(opt, start_factor=0), ValueError, r"start_factor must be in \(0.0, 1.0\]"),
        (lambda: LinearLR(opt, end_factor=1.5), ValueError, r"end_factor must be in \[0.0, 1.0\]"),
        (lambda: OneCycleLR(opt, 1.0, total_steps=0), ValueError, "total_steps must be an integer >= 1"),
        (lambda: OneCycleLR(opt, 1.0, 10, anneal_strategy="exp"), ValueError, "anneal_strategy"),
        (lambda: OneCycleLR(opt, [1.0, 2.0], 10), ValueError, "expected 1 values for max_lr"),
        (lambda: SequentialLR(opt, [ExponentialLR(opt, 0.9)], [3]), ValueError, "expected 0 milestones"),
        (lambda: SequentialLR(opt, [ReduceLROnPlateau(opt)], []), TypeError, "not ReduceLROnPlateau"),
        (lambda: SequentialLR(opt, [ExponentialLR(make_opt(), 0.9)], []), ValueError, "another optimizer"),
        (lambda: ReduceLROnPlateau(opt, factor=1.0), ValueError, "factor must be < 1.0"),
        (lambda: ReduceLROnPlateau(opt, mode="up"), ValueError, "mode must be 'min' or 'max'"),
        (lambda: ReduceLROnPlateau(opt, threshold_mode="x"), ValueError, "threshold_mode"),
        (lambda: ReduceLROnPlateau(opt, patience=-1), ValueError, "patience must be an integer >= 0"),
        (lambda: ReduceLROnPlateau(opt, min_lr=[0.1, 0.2]), ValueError, "expected 1 min_lrs"),
    ]:
        with pytest.raises(error, match=match):
            make()


def test_signatures_and_defaults_are_the_contracts():
    import inspect

    def defaults(cls):
        return {k: p.default for k, p in inspect.signature(cls).parameters.items()
                if p.default is not inspect.Parameter.empty}

    assert list(inspect.signature(LambdaLR).parameters)[:2] == ["optimizer", "lr_lambda"]
    assert list(inspect.signature(ExponentialLR).parameters)[:2] == ["optimizer", "gamma"]
    assert defaults(LinearLR) == {"start_factor": 1 / 3, "end_factor": 1.0, "total_iters": 5, "last_epoch": -1}
    assert list(inspect.signature(OneCycleLR).parameters)[:3] == ["optimizer", "max_lr", "total_steps"]
    assert defaults(OneCycleLR) == {"pct_start": 0.3, "anneal_strategy": "cos", "div_factor": 25.0,
                                    "final_div_factor": 1e4, "three_phase": False, "last_epoch": -1}
    assert list(inspect.signature(SequentialLR).parameters)[:3] == ["optimizer", "schedulers", "milestones"]
    assert defaults(ReduceLROnPlateau) == {"mode": "min", "factor": 0.1, "patience": 10, "threshold": 1e-4,
                                           "threshold_mode": "rel", "cooldown": 0, "min_lr": 0.0, "eps": 1e-8}


@pytest.mark.parametrize("corrupt, match", [
    ({"best": float("nan")}, "best must be a number or"),
    ({"best": "abc"}, "best must be a number"),
    ({"threshold": float("inf")}, "threshold must be in"),
    ({"eps": float("nan")}, "eps must be in"),
    ({"factor": 2.0}, "factor"),
    ({"patience": -1}, "patience"),
])
def test_bad_plateau_state_is_refused_and_changes_nothing(corrupt, match):
    opt = make_opt()
    sched = ReduceLROnPlateau(opt)
    sched.step(1.0)
    before = sched.state_dict()
    with pytest.raises((ValueError, TypeError), match=match):
        sched.load_state_dict({**before, **corrupt})
    assert sched.state_dict() == before


def test_scheduler_load_state_dict_of_none_names_the_call():
    sched = ExponentialLR(make_opt(), 0.5)
    with pytest.raises(ValueError, match="ExponentialLR.load_state_dict: expected a dict, got NoneType"):
        sched.load_state_dict(None)
