"""nn.Dense (alias nn.Linear)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
import minidl.functional as F
from minidl import nn
from tests.helpers import assert_close, rand_tensor
from tests.strategies import shapes


def test_parameters_shapes_order_and_dtype():
    layer = nn.Dense(4, 3)
    assert [(n, p.shape) for n, p in layer.named_parameters()] == [("weight", (4, 3)), ("bias", (3,))]
    assert layer.weight.dtype == layer.bias.dtype == np.float32
    assert all(p.requires_grad for p in layer.parameters())
    assert nn.Linear is nn.Dense


def test_no_bias():
    layer = nn.Dense(4, 3, bias=False)
    assert layer.bias is None
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    x = md.ones(2, 4)
    assert_close(layer(x), x.numpy() @ layer.weight.numpy())


def test_default_init_bounds_and_zero_bias():
    md.manual_seed(0)
    layer = nn.Dense(64, 200)
    w = layer.weight.numpy()
    bound = 1 / math.sqrt(64)  # PyTorch's Linear: kaiming_uniform_(a=sqrt(5)) on fan_in
    assert np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.95 * bound  # fills the range (12,800 draws)
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound / math.sqrt(3) * 5
    np.testing.assert_array_equal(layer.bias.numpy(), np.zeros(200, np.float32))


def test_init_is_seeded():
    md.manual_seed(7)
    a = nn.Dense(3, 2).weight.numpy().copy()
    md.manual_seed(7)
    b = nn.Dense(3, 2).weight.numpy()
    np.testing.assert_array_equal(a, b)


def test_created_on_default_backend(backend):
    md.set_backend(backend)
    layer = nn.Dense(2, 2)
    assert layer.weight.device == layer.bias.device == ("cpu" if backend == "numpy" else "cuda")


@given(batch=shapes(1, 3, max_side=3), n_in=st.integers(1, 4), n_out=st.integers(1, 3),
       bias=st.booleans())
def test_gradcheck_inputs_and_parameters(backend, batch, n_in, n_out, bias):
    layer = nn.Dense(n_in, n_out, bias=bias).to(backend).astype("float64")
    names = [n for n, _ in layer.named_parameters()]

    def f(x, *params):
        for name, p in zip(names, params):  # gradcheck's copies stand in for the parameters
            object.__setattr__(layer, name, p)
        return layer(x)
    assert md.gradcheck(f, rand_tensor(batch + (n_in,), backend), *layer.parameters())


def test_known_value_and_parameter_gradients():
    layer = nn.Dense(2, 2).astype("float64")
    layer.load_state_dict({"weight": np.array([[1.0, 2.0], [3.0, 4.0]]), "bias": np.array([0.5, -1.0])})
    x = md.tensor([[1.0, 1.0], [2.0, 0.0], [0.0, -1.0]], dtype="float64")
    y = layer(x)
    assert_close(y, [[4.5, 5.0], [2.5, 3.0], [-2.5, -5.0]])
    y.sum().backward()
    assert_close(layer.weight.grad, [[3.0, 3.0], [0.0, 0.0]])
    assert_close(layer.bias.grad, [3.0, 3.0])


def test_three_d_input():
    layer = nn.Dense(4, 5)
    assert layer(md.ones(2, 3, 4)).shape == (2, 3, 5)


def test_input_mismatch_names_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"Dense: expected input of shape \(\.\.\., 4\), got \(2, 3\)"):
        nn.Dense(4, 5)(md.ones(2, 3))
    with pytest.raises(ValueError, match=r"Dense: expected input of shape \(\.\.\., 4\), got \(\)"):
        nn.Dense(4, 5)(md.tensor(1.0))


@pytest.mark.parametrize("args", [(0, 3), (3, -1), (2.5, 3), (True, 3)])
def test_bad_feature_counts(args):
    with pytest.raises(ValueError, match="Dense: .* must be a positive int"):
        nn.Dense(*args)


def test_repr():
    assert repr(nn.Dense(784, 128)) == "Dense(in_features=784, out_features=128, bias=True)"
    assert repr(nn.Linear(3, 1, bias=False)) == "Dense(in_features=3, out_features=1, bias=False)"


def test_numpy_integer_sizes_are_accepted():
    layer = nn.Dense(np.int64(4), np.int32(3))
    assert layer.weight.shape == (4, 3) and type(layer.in_features) is int
    assert layer(md.ones(2, 4)).shape == (2, 3)


def test_lists_and_arrays_are_input_too():
    layer = nn.Dense(2, 1)
    np.testing.assert_array_equal(layer([[1.0, 2.0]]).numpy(), layer(np.array([[1.0, 2.0]])).numpy())


def test_sequential_fuses_dense_and_relu_with_the_same_numbers():
    """Sequential runs Dense + ReLU as one op (Dense.forward_relu): same outputs and
    gradients as the two layers one after the other, one graph node fewer."""
    md.manual_seed(0)
    dense = nn.Dense(5, 7)
    model = nn.Sequential(dense, nn.ReLU(), nn.Dense(7, 2))
    x = md.tensor(np.random.default_rng(0).standard_normal((2, 3, 5)), dtype="float32",
                  requires_grad=True)
    fused = model(x)
    assert fused.creator.inputs[0].creator.relu  # the second Dense's input: the fused Dense
    fused.sum().backward()
    grads = [t.grad.numpy().copy() for t in (x, dense.weight, dense.bias)]
    for t in (x, dense.weight, dense.bias):
        t.grad = None
    apart = model[2](F.relu(dense(x)))
    apart.sum().backward()
    np.testing.assert_allclose(fused.numpy(), apart.numpy(), rtol=1e-6, atol=1e-6)
    for got, t in zip(grads, (x, dense.weight, dense.bias)):
        np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-5, atol=1e-5)
