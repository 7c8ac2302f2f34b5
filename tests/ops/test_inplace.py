"""In-place updates with PyTorch's rules (grad mode, dtype, broadcasting) and the version
counter that keeps backward from using an array changed since it was saved."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
import minidl.functional as F
from tests.conftest import GPU_REASON
from tests.helpers import assert_close


def f32(data, backend, requires_grad=False):
    return md.tensor(np.asarray(data, dtype=np.float32), requires_grad=requires_grad, device=backend)


# ---- the same object changes ------------------------------------------------------------------

@pytest.mark.parametrize("op, expected", [
    (lambda t, u: t.__iadd__(u), [1.5, 3.0, 4.5]), (lambda t, u: t.__isub__(u), [0.5, 1.0, 1.5]),
    (lambda t, u: t.__imul__(u), [0.5, 2.0, 4.5]), (lambda t, u: t.__itruediv__(u), [2.0, 2.0, 2.0]),
])
def test_augmented_operators_update_the_same_array(backend, op, expected):
    t = f32([1.0, 2.0, 3.0], backend)
    array, before = t.data, t._version
    out = op(t, f32([0.5, 1.0, 1.5], backend))
    assert out is t and t.data is array and t._version == before + 1
    assert_close(t, expected)


def test_python_rebinding_keeps_identity_so_other_references_see_it(backend):
    t = f32([1.0, 2.0], backend)
    alias = t
    t += 1
    t *= 2.0
    assert t is alias
    assert_close(alias, [4.0, 6.0])


def test_named_in_place_methods_match_torch(backend):
    # values from torch 2.13 (float32)
    a = f32([1.0, 2.0, 3.0], backend)
    assert a.add_(f32([0.1, 0.2, 0.3], backend), alpha=-2.5) is a
    assert a.numpy().tolist() == [0.75, 1.5, 2.25]
    b = f32([[1.0, 2.0], [3.0, 4.0]], backend)
    assert b.clamp_(1.5, 3.5) is b and b.numpy().tolist() == [[1.5, 2.0], [3.0, 3.5]]
    assert b.mul_(2) is b and b.numpy().tolist() == [[3.0, 4.0], [6.0, 7.0]]
    assert b.sub_(1.0).div_(f32([2.0, 4.0], backend)).numpy().tolist() == [[1.0, 0.75], [2.5, 1.5]]
    assert b.zero_() is b and b.numpy().tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert b.fill_(7) is b and b.numpy().tolist() == [[7.0, 7.0], [7.0, 7.0]]
    assert b.fill_(md.tensor(2.0, device=backend)).numpy().tolist() == [[2.0, 2.0], [2.0, 2.0]]
    assert b.copy_(f32([5.0, 6.0], backend)) is b and b.numpy().tolist() == [[5.0, 6.0], [5.0, 6.0]]
    assert b._version == 8


def test_setitem(backend):
    # values from torch 2.13
    a = md.zeros(2, 3, device=backend)
    a[:, 1] = f32([5.0, 6.0], backend)
    a[0] = 1.5
    assert a.numpy().tolist() == [[1.5, 1.5, 1.5], [0.0, 6.0, 0.0]]
    i = md.tensor([1, 2, 3], device=backend)
    i[1] = 7.9  # a float written into an integer tensor truncates, as torch's copy_
    i[md.tensor([True, False, True], device=backend)] = -4.6
    assert i.numpy().tolist() == [-4, 7, -4] and i.dtype == md.int64
    m = f32([1.0, 2.0, 3.0], backend)
    m[m > 1] = 0.0
    m[md.tensor([0, 0], device=backend)] = f32([5.0, 6.0], backend)  # the last write wins
    assert m.numpy().tolist() == [6.0, 0.0, 0.0] and m._version == 2


def test_copy_casts_and_crosses_devices_on_request(backend):
    a = md.tensor([1, 2, 3], device=backend)
    a.copy_(md.tensor([1.7, -2.7, 3.2], device=backend))
    assert a.numpy().tolist() == [1, -2, 3]  # torch 2.13: truncated toward zero
    b = md.zeros(2, device=backend)
    b.copy_(np.array([1.0, 2.0]) if backend == "numpy" else md.tensor([1.0, 2.0]))  # host data
    assert b.numpy().tolist() == [1.0, 2.0] and b.device == ("cuda" if backend == "cupy" else "cpu")


# ---- dtype and shape rules ----------------------------------------------------------------------

def test_float32_plus_float64_stays_float32_with_torch_rounding(backend):
    a = f32([0.1, 0.7, -3.3], backend)
    a += md.tensor([0.2, 1e-9, 1.0 / 3], dtype="float64", device=backend)
    assert a.dtype == md.float32
    # torch 2.13: the sum in float64, rounded once to float32
    assert a.numpy().tolist() == [0.30000001192092896, 0.699999988079071, -2.9666666984558105]


def test_integer_in_place_arithmetic(backend):
    a = md.tensor([1, 2, 3], device=backend)
    a *= 3
    a += md.tensor([1, 1, 1], device=backend)
    assert a.dtype == md.int64 and a.numpy().tolist() == [4, 7, 10]
    f = f32([1.0, 2.0], backend)
    f += md.tensor([1, 2], device=backend)  # an integer value into a float tensor is fine
    assert f.numpy().tolist() == [2.0, 4.0]


@pytest.mark.parametrize("op, result", [
    (lambda t: t.__iadd__(1.5), "float32"), (lambda t: t.__iadd__(md.tensor([1.5, 1.0])), "float32"),
    (lambda t: t.__itruediv__(2), "float32"), (lambda t: t.add_(md.tensor([1, 1]), alpha=0.5), "float32"),
    (lambda t: t.clamp_(0.5, 2.5), "float32"),
])
def test_a_float_result_into_an_integer_tensor_is_refused_as_torch(op, result):
    t = md.tensor([1, 2])
    with pytest.raises(RuntimeError, match=f"result type {result} can't be cast to the desired "
                                           f"output type int64"):
        op(t)
    assert t.numpy().tolist() == [1, 2] and t._version == 0  # nothing changed


def test_bool_plus_int_is_refused():
    t = md.tensor([True, False])
    with pytest.raises(RuntimeError, match="result type int64 can't be cast to the desired output type bool"):
        t += 1


@pytest.mark.parametrize("shape, other", [((2,), (2, 2)), ((1, 2), (2, 1))])
def test_broadcasting_may_not_grow_the_tensor(backend, shape, other):
    t = md.ones(*shape, device=backend)
    with pytest.raises(RuntimeError,
                       match=r"output with shape .* doesn't match the broadcast shape \(2, 2\)"):
        t += md.ones(*other, device=backend)
    assert t.shape == shape and (t.numpy() == 1).all() and t._version == 0


def test_broadcasting_into_the_tensor_works(backend):
    t = f32([[1.0, 2.0], [3.0, 4.0]], backend)
    t /= f32([2.0, 4.0], backend)
    assert t.numpy().tolist() == [[0.5, 0.5], [1.5, 1.0]]  # torch 2.13


def test_shape_errors_of_setitem_copy_and_fill(backend):
    t = f32([1.0, 2.0, 3.0], backend)
    with pytest.raises(RuntimeError, match="__setitem__"):
        t[0:2] = f32([1.0, 2.0, 3.0], backend)
    with pytest.raises(RuntimeError, match=r"copy_: src of shape \(2,\) cannot be broadcast"):
        t.copy_(f32([1.0, 2.0], backend))
    with pytest.raises(RuntimeError, match="fill_ only supports 0-dimension value tensor"):
        t.fill_(f32([2.0], backend))
    with pytest.raises(TypeError, match="copy_: src must be a Tensor"):
        t.copy_("abc")
    assert t.numpy().tolist() == [1.0, 2.0, 3.0] and t._version == 0


@pytest.mark.gpu
def test_values_on_another_device_are_refused():
    if not md.cuda_available():
        pytest.skip(GPU_REASON)
    t = md.zeros(2, device="cupy")
    with pytest.raises(md.DeviceMismatchError):
        t[0:2] = md.tensor([1.0, 2.0])
    with pytest.raises(md.DeviceMismatchError):
        t += md.tensor([1.0, 2.0])


# ---- grad mode rules ----------------------------------------------------------------------------

IN_PLACE = {
    "+=": lambda t: t.__iadd__(1.0), "-=": lambda t: t.__isub__(1.0), "*=": lambda t: t.__imul__(2.0),
    "/=": lambda t: t.__itruediv__(2.0), "add_": lambda t: t.add_(1.0), "mul_": lambda t: t.mul_(2.0),
    "zero_": lambda t: t.zero_(), "fill_": lambda t: t.fill_(3.0),
    "copy_": lambda t: t.copy_(md.ones(2, device=t.device)), "clamp_": lambda t: t.clamp_(0.0, 0.5),
    "__setitem__": lambda t: t.__setitem__(0, 5.0) or t,
}


@pytest.mark.parametrize("name", sorted(IN_PLACE))
def test_a_leaf_that_requires_grad_is_refused_while_grad_mode_is_on(backend, name):
    w = f32([1.0, 2.0], backend, requires_grad=True)
    with pytest.raises(RuntimeError,
                       match=r"a leaf tensor that requires grad .*md.no_grad\(\).*out-of-place"):
        IN_PLACE[name](w)
    assert w.numpy().tolist() == [1.0, 2.0] and w._version == 0 and w.is_leaf


@pytest.mark.parametrize("name", sorted(IN_PLACE))
def test_under_no_grad_any_leaf_changes_in_place(backend, name):
    w = f32([1.0, 2.0], backend, requires_grad=True)
    array = w.data
    with md.no_grad():
        out = IN_PLACE[name](w)
    assert out is w and w.data is array and w._version == 1
    assert w.requires_grad and w.is_leaf and w.creator is None
    assert w.numpy().tolist() != [1.0, 2.0]


def test_no_grad_parameter_update_as_torch(backend):
    w = f32([1.0, 2.0], backend, requires_grad=True)
    (w * w).sum().backward()
    with md.no_grad():
        w -= 0.5 * w.grad
    assert w.numpy().tolist() == [0.0, 0.0] and w.requires_grad and w.is_leaf  # torch 2.13


@pytest.mark.parametrize("name", ["add_", "mul_", "copy_", "fill_", "__setitem__"])
def test_a_value_that_requires_grad_is_refused_while_grad_mode_is_on(backend, name):
    t = md.zeros(2, device=backend)
    u = f32([1.0, 2.0], backend, requires_grad=True)
    act = {"add_": lambda: t.add_(u), "mul_": lambda: t.mul_(u), "copy_": lambda: t.copy_(u),
           "fill_": lambda: t.fill_(u.sum()), "__setitem__": lambda: t.__setitem__(slice(None), u)}
    with pytest.raises(RuntimeError, match="the value requires grad.*out-of-place"):
        act[name]()
    assert t.numpy().tolist() == [0.0, 0.0] and t._version == 0
    with md.no_grad():
        act[name]()
    assert t._version == 1


def test_augmented_operators_inside_a_graph_go_out_of_place(backend):
    # `loss += l` on a tensor of the graph keeps working (Python rebinds the name), as it does
    # in PyTorch; so does accumulating a graph into a plain tensor
    x = md.tensor([1.0, 2.0], dtype="float64", requires_grad=True, device=backend)
    loss = (x * x).sum()
    first = loss
    loss += (x * 3).sum()
    loss *= 2
    assert loss is not first and loss.requires_grad
    total = md.zeros((), dtype="float64", device=backend)
    total += loss
    total.backward()
    assert_close(x.grad, [2 * (2 * 1.0 + 3), 2 * (2 * 2.0 + 3)])


def test_named_methods_on_a_graph_tensor_are_refused(backend):
    x = f32([1.0, 2.0], backend, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="a tensor that is part of a graph"):
        y.add_(1.0)
    with pytest.raises(RuntimeError, match="a tensor that is part of a graph"):
        y[0] = 1.0


def test_grads_and_detached_tensors_change_in_place(backend):
    w = f32([1.0, 2.0], backend, requires_grad=True)
    (w * 3).sum().backward()
    w.grad.zero_()  # the usual p.grad.zero_()
    assert w.grad.numpy().tolist() == [0.0, 0.0]
    (w * 3).sum().backward()
    assert w.grad.numpy().tolist() == [3.0, 3.0]
    d = w.detach()
    d += 1  # shares w's array, as in PyTorch
    assert w.numpy().tolist() == [2.0, 3.0] and w._version == d._version == 1


# ---- the version counter ---------------------------------------------------------------------

def test_changing_a_saved_input_makes_backward_refuse(backend):
    w = f32([1.0, 2.0], backend, requires_grad=True)
    a = f32([3.0, 4.0], backend)
    y = (a * w).sum()  # Mul keeps a for w's gradient
    a += 1
    assert a._version == 1
    with pytest.raises(RuntimeError, match=r"one of the variables needed for gradient computation has "
                                           r"been modified by an inplace operation: \[float32 \(2,\)\] "
                                           r"is at version 1, changed after Mul saved it"):
        y.backward()


def test_changing_an_input_the_op_did_not_keep_is_fine(backend):
    w = f32([1.0, 2.0], backend, requires_grad=True)
    a = f32([3.0, 4.0], backend)
    y = (a + w).sum()  # Add keeps nothing
    a += 1
    y.backward()
    assert w.grad.numpy().tolist() == [1.0, 1.0]


def test_changing_a_saved_output_makes_backward_refuse(backend):
    w = f32([1.0, 2.0], backend, requires_grad=True)
    e = w.exp()  # Exp keeps its output
    y = e.sum()
    with md.no_grad():
        e.zero_()
    with pytest.raises(RuntimeError,
                       match=r"which is output 0 of Exp, is at version 1, changed after Exp saved it"):
        y.backward()


def test_changing_a_saved_output_through_a_view_is_caught(backend):
    w = f32([1.0, 2.0], backend, requires_grad=True)
    e = w.exp()
    y = (e * 1.0).sum()
    view = e[0:1]  # recorded (e requires grad), sharing e's counter
    with md.no_grad():
        view.fill_(0.0)
    assert e._version == 1 and e.numpy()[0] == 0.0
    with pytest.raises(RuntimeError, match="output 0 of Exp"):
        y.backward()


def test_in_place_changes_elsewhere_do_not_disturb_backward(backend):
    w = f32([1.0, 2.0], backend, requires_grad=True)
    y = (w * w).sum()
    other = md.zeros(2, device=backend)
    other += 1  # an unrelated change moves the process-wide count: the check looks, finds nothing
    y.backward()
    assert w.grad.numpy().tolist() == [2.0, 4.0]


def test_changing_a_parameter_under_no_grad_before_backward_is_caught(backend):
    w = f32([1.0, 2.0], backend, requires_grad=True)
    y = (w * w).sum()
    with md.no_grad():
        w -= 0.1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


@pytest.mark.parametrize("make_view", [
    lambda w: w[0], lambda w: w.reshape(-1), lambda w: w.T, lambda w: w.detach(),
    lambda w: w.view(4)[1:], lambda w: w.permute(1, 0)[:, 0],
])
def test_views_share_the_version_counter(backend, make_view):
    w = f32([[1.0, 2.0], [3.0, 4.0]], backend, requires_grad=True)
    y = (w * w).sum()
    with md.no_grad():
        v = make_view(w)
        v.zero_()
    assert w._version == 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_an_advanced_index_copy_does_not_share_the_counter(backend):
    w = f32([[1.0, 2.0], [3.0, 4.0]], backend, requires_grad=True)
    y = (w * w).sum()
    with md.no_grad():
        c = w[md.tensor([0, 1], device=backend)]
        c.zero_()
    assert w._version == 0
    y.backward()
    assert_close(w.grad, [[2.0, 4.0], [6.0, 8.0]])


def test_retained_graph_checks_again(backend):
    w = f32([1.0, 2.0], backend, requires_grad=True)
    y = F.sigmoid(w).sum()  # Sigmoid keeps its output
    y.backward(retain_graph=True)
    with md.no_grad():
        w += 1  # the input was not kept: fine
    y.backward()
    assert_close(w.grad, 2 * np.array([0.19661193, 0.10499359]), rtol=1e-6)


def test_a_read_only_array_is_refused_naming_the_op():
    frozen = np.arange(3.0)
    frozen.flags.writeable = False
    t = md.from_numpy(frozen)
    for act in (lambda: t.__iadd__(1.0), lambda: t.zero_(), lambda: t.__setitem__(0, 1.0)):
        with pytest.raises(RuntimeError, match="read-only"):
            act()
    assert t.numpy().tolist() == [0.0, 1.0, 2.0] and t._version == 0
