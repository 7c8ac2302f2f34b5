"""nn.LayerNorm: parameters as PyTorch, numbers through F.layer_norm."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
import minidl.functional as F
from minidl import nn


def test_layer_norm_parameters_and_output():
    layer = nn.LayerNorm((2, 3))
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    assert layer.weight.shape == (2, 3) and np.all(layer.weight.numpy() == 1)
    assert np.all(layer.bias.numpy() == 0) and layer.weight.dtype == np.float32
    x = md.randn(4, 2, 3)
    y = layer(x).numpy()
    rows = x.numpy().reshape(4, 6)
    want = (rows - rows.mean(1, keepdims=True)) / np.sqrt(rows.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(y.reshape(4, 6), want, rtol=1e-5, atol=1e-5)


def test_layer_norm_without_affine_or_bias():
    assert list(nn.LayerNorm(5, elementwise_affine=False).parameters()) == []
    no_bias = nn.LayerNorm(5, bias=False)
    assert [name for name, _ in no_bias.named_parameters()] == ["weight"] and no_bias.bias is None


def test_layer_norm_gradcheck_through_the_module():
    layer = nn.LayerNorm(4).astype("float64")
    layer.weight.data[:] = [1.0, -2.0, 0.5, 3.0]
    x = md.randn(3, 4, dtype="float64", requires_grad=True)
    assert md.gradcheck(lambda x, w, b: F.layer_norm(x, 4, w, b), x, layer.weight, layer.bias)
    assert md.gradcheck(layer, x)


def test_layer_norm_bad_shape_names_the_layer():
    with pytest.raises(ValueError, match="normalized_shape"):
        nn.LayerNorm(0)
    with pytest.raises(ValueError, match="layer_norm: expected input"):
        nn.LayerNorm(4)(md.randn(2, 3))
