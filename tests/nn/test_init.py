"""nn.init: in-place initialisers on the library RNG, fans for both weight layouts."""
from __future__ import annotations

import math

import numpy as np
import pytest

import minidl as md
from minidl import nn
from minidl.nn import init


def _param(*shape, device="numpy", dtype="float32"):
    return nn.Parameter(md.zeros(*shape, dtype=dtype, device=device))


def test_in_place_and_returns_the_tensor(backend):
    p = _param(3, 4, device=backend)
    before = p.data
    assert init.uniform_(p, -1, 1) is p
    assert p.data is before  # the same array, filled in place
    assert p.dtype == np.float32


def test_constants(backend):
    p = _param(2, 3, device=backend)
    np.testing.assert_array_equal(init.ones_(p).numpy(), np.ones((2, 3)))
    np.testing.assert_array_equal(init.zeros_(p).numpy(), np.zeros((2, 3)))
    np.testing.assert_array_equal(init.constant_(p, 0.25).numpy(), np.full((2, 3), 0.25))


def test_uniform_and_normal_statistics(backend):
    md.manual_seed(0)
    u = init.uniform_(_param(100, 1000, device=backend, dtype="float64"), -2.0, 3.0).numpy()
    assert -2.0 <= u.min() and u.max() < 3.0
    assert abs(u.mean() - 0.5) < 0.02 and abs(u.std() - 5 / math.sqrt(12)) < 0.02
    n = init.normal_(_param(100, 1000, device=backend, dtype="float64"), 1.0, 0.5).numpy()
    assert abs(n.mean() - 1.0) < 0.01 and abs(n.std() - 0.5) < 0.01


def test_seeded_repeatable():
    md.manual_seed(3)
    a = init.normal_(_param(5, 5)).numpy().copy()
    md.manual_seed(3)
    np.testing.assert_array_equal(init.normal_(_param(5, 5)).numpy(), a)


def test_fans_for_both_layouts():
    conv = _param(8, 3, 5, 5)  # (out, in, kH, kW) as PyTorch
    assert init.calculate_fan_in_and_fan_out(conv) == (75, 200)
    dense = _param(20, 30)  # minidl Dense: (in, out)
    assert init.calculate_fan_in_and_fan_out(dense) == (30, 20)  # unmarked: read as PyTorch
    assert init.calculate_fan_in_and_fan_out(dense, layout="in_out") == (20, 30)
    dense.fan_layout = "in_out"
    assert init.calculate_fan_in_and_fan_out(dense) == (20, 30)
    assert init.calculate_fan_in_and_fan_out(dense, layout="out_in") == (30, 20)
    assert nn.Dense(20, 30).weight.fan_layout == "in_out"


def test_fan_errors():
    with pytest.raises(ValueError, match=r"at least 2 dimensions, got shape \(4,\)"):
        init.calculate_fan_in_and_fan_out(_param(4))
    with pytest.raises(ValueError, match="layout must be one of"):
        init.calculate_fan_in_and_fan_out(_param(4, 4), layout="io")
    with pytest.raises(ValueError, match="mode must be"):
        init.kaiming_uniform_(_param(4, 4), mode="fan_avg")


def test_gains_as_pytorch():
    assert init.calculate_gain("linear") == 1.0
    assert init.calculate_gain("sigmoid") == 1.0
    assert init.calculate_gain("tanh") == 5 / 3
    assert init.calculate_gain("relu") == math.sqrt(2)
    assert init.calculate_gain("leaky_relu") == math.sqrt(2 / (1 + 0.01**2))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == math.sqrt(1 / 3)
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


def _bound_filled(values, bound):
    assert np.abs(values).max() <= bound * (1 + 1e-6)
    assert np.abs(values).max() > 0.98 * bound
    assert abs(values.std() - bound / math.sqrt(3)) < 0.03 * bound


def test_kaiming_uniform_bounds_both_layouts():
    md.manual_seed(1)
    w = init.kaiming_uniform_(_param(64, 50, 3, 3), nonlinearity="relu").numpy()
    _bound_filled(w, math.sqrt(2) * math.sqrt(3 / (50 * 9)))
    w = init.kaiming_uniform_(_param(40, 500), mode="fan_out", layout="in_out").numpy()
    _bound_filled(w, math.sqrt(2) * math.sqrt(3 / 500))


def test_kaiming_normal_std():
    md.manual_seed(2)
    w = init.kaiming_normal_(_param(400, 100, dtype="float64"), layout="in_out").numpy()
    assert abs(w.std() - math.sqrt(2 / 400)) < 0.02 * math.sqrt(2 / 400)
    assert abs(w.mean()) < 0.02 * math.sqrt(2 / 400)


def test_xavier():
    md.manual_seed(3)
    w = init.xavier_uniform_(_param(300, 200), gain=2.0).numpy()
    _bound_filled(w, 2.0 * math.sqrt(6 / 500))
    w = init.xavier_normal_(_param(300, 200, dtype="float64")).numpy()
    assert abs(w.std() - math.sqrt(2 / 500)) < 0.02 * math.sqrt(2 / 500)


def test_zero_element_tensor_is_a_no_op():
    p = _param(0, 3)
    assert init.kaiming_uniform_(p) is p
    assert init.xavier_normal_(p) is p
