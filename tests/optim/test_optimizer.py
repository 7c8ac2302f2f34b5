"""Optimizer base: parameter groups, zero_grad, skipping, state dicts and exact resumption."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from minidl import optim
from minidl.nn import Parameter
from tests.conftest import GPU_REASON
from tests.helpers import assert_close
from tests.optim.common import TinyNet, assert_resumes_exactly


def params(*values: list[float], backend: str = "numpy") -> list[Parameter]:
    return [Parameter(md.tensor(v, dtype="float64", device=backend)) for v in values]


def test_param_groups_have_their_own_lr_and_hyperparameters(backend):
    a, b = params([1.0, 2.0], [3.0], backend=backend)
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert [g["momentum"] for g in opt.param_groups] == [0.0, 0.9]
    assert opt.param_groups[1]["params"] == [b] and "nesterov" in opt.param_groups[0]
    for _ in range(2):
        a.grad = md.tensor([1.0, 1.0], dtype="float64", device=backend)
        b.grad = md.tensor([1.0], dtype="float64", device=backend)
        opt.step()
    assert_close(a, [0.8, 1.8])
    assert_close(b, [3.0 - 0.5 * (1 + 1.9)])  # momentum buffer 1, then 1.9


def test_changing_group_lr_takes_effect(backend):
    (p,) = params([1.0], backend=backend)
    opt = optim.SGD([p], lr=0.1)
    opt.param_groups[0]["lr"] = 0.25
    p.grad = md.tensor([2.0], dtype="float64", device=backend)
    opt.step()
    assert_close(p, [0.5])


def test_step_skips_parameters_without_grad_and_zero_grad_clears(backend):
    a, b = params([1.0], [2.0], backend=backend)
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = md.tensor([1.0], dtype="float64", device=backend)
    opt.step()
    assert_close(b, [2.0])
    assert b not in opt.state or not opt.state[b]
    assert list(opt.state_dict()["state"]) == [0]
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_zero_grad_set_to_none_false_gives_fresh_zeros(backend):
    (p,) = params([1.0, 2.0], backend=backend)
    shared = md.tensor([3.0, 4.0], dtype="float64", device=backend)
    p.grad = shared
    optim.SGD([p], lr=0.1).zero_grad(set_to_none=False)
    assert_close(p.grad, [0.0, 0.0])
    assert_close(shared, [3.0, 4.0])


def test_step_never_writes_into_a_shared_grad_array(backend):
    a, b = params([1.0, 2.0], [3.0, 4.0], backend=backend)
    g = md.tensor([0.5, -0.5], dtype="float64", device=backend)
    a.grad = b.grad = g
    for opt in (optim.SGD([a, b], lr=0.1, momentum=0.9, weight_decay=0.1),
                optim.Adam([a, b], weight_decay=0.1), optim.AdamW([a, b])):
        opt.step()
        assert_close(g, [0.5, -0.5])


def test_step_runs_closure_with_grad_enabled():
    model = TinyNet()
    opt = optim.SGD(model.parameters(), lr=0.1)
    x = md.tensor(np.ones((2, 3)))

    def closure():
        opt.zero_grad()
        loss = (model(x) ** 2).mean()
        loss.backward()
        return loss

    with md.no_grad():
        loss = opt.step(closure)
    assert isinstance(loss, md.Tensor) and model.w.grad is not None



@pytest.mark.parametrize("make_opt", [lambda ps: optim.SGD(ps, lr=0.5, momentum=0.9),
                                      lambda ps: optim.Adam(ps, lr=0.5), lambda ps: optim.AdamW(ps, lr=0.5)],
                         ids=["SGD", "Adam", "AdamW"])
def test_step_hooks_run_around_every_update_in_order(make_opt):
    (p,) = params([1.0, 2.0])
    opt = make_opt([p])
    events = []

    def closure():
        events.append("closure")
        p.grad = md.tensor([1.0, 1.0], dtype="float64")
        return "loss"

    def pre(o):
        assert o is opt
        events.append(("pre", p.grad.numpy().tolist(), p.numpy().tolist()))
        p.grad = md.tensor([0.0, 2.0], dtype="float64")  # what the update must now use

    def post(o):
        assert o is opt
        events.append(("post", p.numpy().tolist()))

    h_pre, h_post = opt.register_step_pre_hook(pre), opt.register_step_post_hook(post)
    h_second = opt.register_step_pre_hook(lambda o: events.append("second pre"))
    assert opt.step(closure) == "loss"
    assert events[:3] == ["closure", ("pre", [1.0, 1.0], [1.0, 2.0]), "second pre"]
    post_name, (p0, p1) = events[3]
    assert post_name == "post" and 2.0 - p1 > 0.1 > 1.0 - p0  # updated with the pre-hook's gradient
    assert len(events) == 4
    h_pre.remove()
    h_pre.remove()  # a second remove is a no-op
    h_second.remove()
    events.clear()
    p.grad = md.tensor([1.0, 1.0], dtype="float64")
    opt.step()
    assert [e[0] for e in events] == ["post"] and events[0][1][0] < 1.0
    with h_post:  # a handle is a context manager that removes its hook on exit
        pass
    events.clear()
    opt.step()
    assert events == []


def test_a_failing_pre_hook_leaves_the_parameters_untouched():
    (p,) = params([1.0, 2.0])
    opt = optim.Adam([p], lr=0.1)
    opt.register_step_pre_hook(lambda o: 1 / 0)
    p.grad = md.tensor([1.0, 1.0], dtype="float64")
    with pytest.raises(ZeroDivisionError):
        opt.step()
    assert_close(p, [1.0, 2.0])
    assert not opt.state.get(p)


def test_hooks_do_not_change_the_state_dict():
    (p,) = params([1.0, 2.0])
    plain, hooked = optim.Adam([p], lr=0.1), optim.Adam([p], lr=0.1)
    hooked.register_step_pre_hook(lambda o: None)
    hooked.register_step_post_hook(lambda o: None)
    for opt in (plain, hooked):
        p.grad = md.tensor([1.0, 1.0], dtype="float64")
        opt.step()
    a, b = plain.state_dict(), hooked.state_dict()
    assert a["param_groups"] == b["param_groups"] and list(a["state"][0]) == list(b["state"][0])
    plain.load_state_dict(b)  # and either loads into the other
    hooked.load_state_dict(a)


def test_hook_registration_and_subclasses_are_checked():
    (p,) = params([1.0])
    with pytest.raises(TypeError, match=r"SGD.register_step_pre_hook: expected a callable hook\(optimizer\), "
                                        r"got int"):
        optim.SGD([p], lr=0.1).register_step_pre_hook(3)
    with pytest.raises(TypeError, match=r"MySGD defines step\(\); .* implements _update"):
        class MySGD(optim.SGD):
            def step(self, closure=None):  # would skip the hooks
                return None


def test_bad_parameter_lists():
    (p,) = params([1.0])
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="more than one group"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(TypeError, match="parameters must be Tensors, item 1 is a ndarray"):
        optim.Adam([p, np.zeros(2)])
    with pytest.raises(TypeError, match="floating"):
        optim.Adam([md.tensor([1, 2])])
    with pytest.raises(ValueError, match="lr must be >= 0"):
        optim.SGD([{"params": [p], "lr": -1.0}], lr=0.1)


def test_state_dict_layout_and_copies():
    a, b = params([1.0, 2.0], [3.0])
    opt = optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.5}])
    a.grad = md.tensor([1.0, 1.0], dtype="float64")
    b.grad = md.tensor([1.0], dtype="float64")
    opt.step()
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1]]
    assert sd["param_groups"][1]["lr"] == 0.5 and sd["param_groups"][0]["betas"] == (0.9, 0.999)
    assert set(sd["state"]) == {0, 1} and sd["state"][0]["step"] == 1
    assert isinstance(sd["state"][1]["exp_avg"], np.ndarray)
    before = sd["state"][0]["exp_avg"].copy()
    opt.step()
    np.testing.assert_array_equal(sd["state"][0]["exp_avg"], before)  # a snapshot, not a view


OPTIMIZERS = [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2),
    lambda ps: optim.Adam(ps, lr=0.05, weight_decay=1e-2),
    lambda ps: optim.AdamW(ps, lr=0.05),
]


@pytest.mark.parametrize("make_opt", OPTIMIZERS, ids=["SGD", "Adam", "AdamW"])
def test_resuming_from_saved_state_continues_exactly(backend, tmp_path, make_opt):
    assert_resumes_exactly(make_opt, backend, tmp_path)


def test_load_state_dict_restores_lr_and_casts_state_to_param_dtype():
    (p,) = params([1.0, 2.0])
    opt = optim.Adam([p], lr=0.1)
    p.grad = md.tensor([1.0, -1.0], dtype="float64")
    opt.step()
    sd = opt.state_dict()
    q = Parameter(md.tensor([1.0, 2.0], dtype="float32"))
    other = optim.Adam([q], lr=0.7)
    other.load_state_dict(sd)
    assert other.param_groups[0]["lr"] == 0.1 and other.param_groups[0]["params"] == [q]
    assert other.state[q]["exp_avg"].dtype == np.float32 and other.state[q]["step"] == 1
    assert other.state[q]["exp_avg"] is not sd["state"][0]["exp_avg"]


def _stepped_adam() -> tuple[optim.Adam, Parameter]:
    (p,) = params([1.0, 2.0])
    opt = optim.Adam([p], lr=0.1)
    p.grad = md.tensor([1.0, -1.0], dtype="float64")
    opt.step()
    return opt, p


def _bad_shape(sd):
    sd["state"][0]["exp_avg"] = np.zeros(3)


def _bad_group_count(sd):
    sd["param_groups"].append(dict(sd["param_groups"][0]))


def _bad_param_count(sd):
    sd["param_groups"][0]["params"] = [0, 1]


def _bad_lr(sd):
    sd["param_groups"][0]["lr"] = -1.0


def _unknown_index(sd):
    sd["state"][5] = sd["state"].pop(0)


def _from_sgd(sd):
    sd["state"][0] = {"momentum_buffer": np.zeros(2)}


@pytest.mark.parametrize("corrupt, match", [
    (_bad_shape, r"shape \(3,\) but the parameter has shape \(2,\)"),
    (_bad_group_count, "2 parameter groups, this optimizer has 1"),
    (_bad_param_count, "2 parameters in the state dict but 1"),
    (_bad_lr, "lr must be >= 0"),
    (_unknown_index, "no group lists"),
    (_from_sgd, "expected"),
])
def test_failed_load_state_dict_changes_nothing(corrupt, match):
    opt, p = _stepped_adam()
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = 0.3  # would change if anything were applied
    corrupt(sd)
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in opt.state[p].items()}
    with pytest.raises(ValueError, match=match):
        opt.load_state_dict(sd)
    assert opt.param_groups[0]["lr"] == 0.1
    assert opt.state[p]["step"] == before["step"]
    np.testing.assert_array_equal(opt.state[p]["exp_avg"], before["exp_avg"])


def test_load_state_dict_rejects_other_optimizers_groups():
    opt, _ = _stepped_adam()
    (q,) = params([1.0, 2.0])
    sgd = optim.SGD([q], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="lacks"):
        sgd.load_state_dict(opt.state_dict())
    with pytest.raises(ValueError, match="expected a dict with keys"):
        sgd.load_state_dict({"state": {}})


# ---- every field of every optimizer's state is validated before anything changes ------------

OPTIMIZERS = [(optim.SGD, {"lr": 0.1, "momentum": 0.9}), (optim.Adam, {}), (optim.AdamW, {}),
              (optim.RMSprop, {"momentum": 0.9, "centered": True}), (optim.Adagrad, {})]
SQUARES = {"exp_avg_sq", "square_avg", "sum"}  # running averages of g*g: never negative


def _stepped(cls, kwargs):
    p = Parameter(md.tensor(np.linspace(-1, 1, 6).reshape(2, 3)))
    opt = cls([p], **kwargs)
    p.grad = md.ones(2, 3, dtype="float64")
    opt.step()
    return p, opt


def _bad_values(key):
    """(value, message) pairs a state entry `key` must refuse."""
    if key == "step":
        return [(-1, "integer >= 0"), ("abc", "integer >= 0"), (float("nan"), "integer >= 0"),
                (2.5, "integer >= 0"), (True, "integer >= 0"), (None, "integer >= 0"),
                (np.ones((2, 3)), "integer >= 0")]
    bad = [(np.array(["a"] * 6).reshape(2, 3), "real numbers"), (np.ones((2, 3), bool), "real numbers"),
           (np.full((2, 3), np.nan), "NaN"), (2.5, "array of the parameter's shape"),
           ("abc", "array of the parameter's shape"), (None, "array of the parameter's shape"),
           (np.ones(6), r"shape \(6,\)")]
    if key in SQUARES:
        bad.append((-np.ones((2, 3)), ">= 0 everywhere"))
    return bad


@pytest.mark.parametrize("cls, kwargs", OPTIMIZERS, ids=[c.__name__ for c, _ in OPTIMIZERS])
def test_load_state_dict_validates_every_state_field(cls, kwargs):
    """Adam step=-1, "abc", NaN or 2.5, a string array...: a ValueError naming the optimizer,
    the field, what was expected and what was given; the optimizer is left unchanged."""
    p, opt = _stepped(cls, kwargs)
    good = opt.state_dict()
    assert good["state"][0], cls.__name__
    for key in good["state"][0]:
        for value, message in _bad_values(key):
            broken = {"param_groups": good["param_groups"],
                      "state": {0: {**good["state"][0], key: value}}}
            with pytest.raises(ValueError, match=message) as info:
                opt.load_state_dict(broken)
            assert f"{cls.__name__}.load_state_dict" in str(info.value) and repr(key) in str(info.value)
            after = opt.state_dict()["state"][0]
            for k, v in good["state"][0].items():
                np.testing.assert_array_equal(after[k], v)


@pytest.mark.parametrize("cls, kwargs", OPTIMIZERS, ids=[c.__name__ for c, _ in OPTIMIZERS])
def test_load_state_dict_accepts_what_torch_saves(cls, kwargs):
    """PyTorch saves step as a float tensor (a 0-d float array after md.load): 3.0 is step 3."""
    p, opt = _stepped(cls, kwargs)
    sd = opt.state_dict()
    if "step" in sd["state"][0]:
        sd["state"][0]["step"] = np.array(3.0)
        opt.load_state_dict(sd)
        assert opt.state_dict()["state"][0]["step"] == 3
    sd["state"][0] = {k: (v.astype(np.float32) if isinstance(v, np.ndarray) else v)
                      for k, v in sd["state"][0].items()}
    opt.load_state_dict(sd)  # float32 state for a float64 parameter: cast, as PyTorch


def test_sgd_nesterov_must_be_a_bool():
    p, opt = _stepped(optim.SGD, {"lr": 0.1, "momentum": 0.9})
    sd = opt.state_dict()
    sd["param_groups"][0]["nesterov"] = "abc"
    with pytest.raises(TypeError, match="SGD: nesterov must be True or False, got 'abc'"):
        opt.load_state_dict(sd)
    with pytest.raises(TypeError, match="nesterov"):
        optim.SGD([p], lr=0.1, momentum=0.9, nesterov=1.5)


def test_load_state_dict_of_none_names_the_call():
    _, opt = _stepped(optim.Adam, {})
    with pytest.raises(ValueError, match=r"Adam.load_state_dict: expected a dict .* got NoneType"):
        opt.load_state_dict(None)


@pytest.mark.parametrize("make", [lambda ps: optim.Adam(ps, lr=0.1),
                                  lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
                                  lambda ps: optim.RMSprop(ps, lr=0.1),
                                  lambda ps: optim.Adagrad(ps, lr=0.1)])
def test_step_refuses_a_gradient_of_another_shape_and_moves_nothing(backend, make):
    """Every gradient is checked before any parameter moves."""
    a, b = params([1.0, 2.0], [3.0], backend=backend)
    opt = make([a, b])
    a.grad = md.tensor([1.0, 1.0], dtype="float64", device=backend)
    b.grad = md.tensor([1.0, 1.0], dtype="float64", device=backend)
    with pytest.raises(ValueError, match=r"\.step: a gradient has shape \(2,\) but its "
                                         r"parameter has shape \(1,\)"):
        opt.step()
    assert_close(a, [1.0, 2.0])


@pytest.mark.gpu
def test_step_refuses_a_gradient_on_another_device():
    if not md.cuda_available():
        pytest.skip(GPU_REASON)
    a, = params([1.0, 2.0], backend="cupy")
    opt = optim.SGD([a], lr=0.1)
    a.grad = md.tensor([1.0, 1.0], dtype="float64")
    with pytest.raises(md.backend.DeviceMismatchError, match="SGD.step: a gradient is on cpu but "
                                                             "its parameter is on cuda"):
        opt.step()
    assert_close(a, [1.0, 2.0])


def test_state_follows_its_parameter_to_another_dtype():
    """A model cast after some steps: its optimizer state is cast with it, and the update
    goes on as if the state had been kept in the new dtype."""
    w = Parameter(md.tensor([0.5, -1.5], dtype="float32"))
    opt = optim.Adam([w], lr=0.1)
    w.grad = md.tensor([0.25, -0.5], dtype="float32")
    opt.step()
    m32 = opt.state[w]["exp_avg"].copy()
    w.data = w.data.astype(np.float64)
    w.grad = md.tensor([0.25, -0.5], dtype="float64")
    opt.step()
    assert opt.state[w]["exp_avg"].dtype == np.float64 and opt.state[w]["exp_avg_sq"].dtype == np.float64
    want = 0.9 * m32.astype(np.float64) + 0.1 * np.array([0.25, -0.5])
    np.testing.assert_allclose(opt.state[w]["exp_avg"], want, rtol=1e-15)
