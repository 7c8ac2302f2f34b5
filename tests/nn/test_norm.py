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


def arr(shape, k):
    return np.sin(np.arange(np.prod(shape)) * 0.7 + k).reshape(shape)


# torch 2.13, float64: BatchNorm2d(3, momentum=m); train on x1 = arr((2,3,2,2),1)*2+0.5 then
# x2 = arr((2,3,2,2),2)*3-1 (y2), then eval() on x1 (y3); BatchNorm1d(2, affine=False,
# track_running_stats=False) on arr((3,2,4),3) in train and eval
BN_PINNED = {"0.1": {"y2": [[[[1.8867971819, 1.1285693658], [0.054091608, -0.831292413]], [[-1.7572674975, -1.3325022042], [-0.4227518359, 0.544113794]], [[1.4807351803, 1.3894496869], [0.7090507131, -0.2404594723]]], [[[-0.8463169518, -1.1086364752], [-0.6350130761, 0.3518007604]], [[0.5640403599, 1.1193372865], [1.0064808645, 0.2785492328]], [[-0.2628722768, -1.0254449367], [-1.2413684019, -0.8090904927]]]], "rm": [-0.139872600228, -0.016362476775, -0.042937674913], "rv": [1.445022496149, 1.500542202285, 1.529186338906], "y3": [[[[1.9323052535, 2.1821920263], [1.6561077848, 0.6014781679]], [[-0.577445276, -1.174475638], [-1.0208793215, -0.188895074]], [[0.9429192988, 1.8144902201], [2.039172193, 1.5112937749]]], [[[0.573518254, -0.5076709203], [-1.0997465349, -0.9242461769]], [[-0.1633477072, 0.9561957283], [1.8242778062, 2.032625961]], [[1.4907837954, 0.4519335084], [-0.5929740149, -1.1525024392]]]], "n": 2}, "None": {"y2": [[[[1.8867971819, 1.1285693658], [0.054091608, -0.831292413]], [[-1.7572674975, -1.3325022042], [-0.4227518359, 0.544113794]], [[1.4807351803, 1.3894496869], [0.7090507131, -0.2404594723]]], [[[-0.8463169518, -1.1086364752], [-0.6350130761, 0.3518007604]], [[0.5640403599, 1.1193372865], [1.0064808645, 0.2785492328]], [[-0.2628722768, -1.0254449367], [-1.2413684019, -0.8090904927]]]], "rm": [-0.673194301016, -0.06970663879, -0.166558564597], "rv": [3.297065018513, 3.568843791757, 3.69905082823], "y3": [[[[1.5729485234, 1.7383798151], [1.3900988931, 0.6919077171]], [[-0.3461939243, -0.7333246074], [-0.633728589, -0.0942474326]], [[0.6705376891, 1.2309254228], [1.3753875871, 1.0359813688]]], [[[0.6733975549, -0.0423767123], [-0.4343455733, -0.3181599481]], [[-0.0776818269, 0.648260508], [1.2111484769, 1.3462470726]], [[1.0227942136, 0.3548520602], [-0.3169846712, -0.6767406681]]]], "n": 2}, "1d": [[[0.4119554895, -0.5838654797, -1.2098428416, -1.1715696619], [-0.5770875041, 0.4193455641, 1.2674630193, 1.5683819701]], [[1.2924866053, 0.3872207306, -0.6049185553, -1.2173126436], [-1.2436898162, -0.555164764, 0.4433721096, 1.2822933104]], [[1.6837608178, 1.2753951401, 0.3624337483, -0.6257433495], [-1.3053604679, -1.2338004622, -0.5330556623, 0.4673027031]]], "1d_eval": [[[0.4119554895, -0.5838654797, -1.2098428416, -1.1715696619], [-0.5770875041, 0.4193455641, 1.2674630193, 1.5683819701]], [[1.2924866053, 0.3872207306, -0.6049185553, -1.2173126436], [-1.2436898162, -0.555164764, 0.4433721096, 1.2822933104]], [[1.6837608178, 1.2753951401, 0.3624337483, -0.6257433495], [-1.3053604679, -1.2338004622, -0.5330556623, 0.4673027031]]]}


@pytest.mark.parametrize("momentum", [0.1, None])
def test_batch_norm_2d_matches_torch(momentum):
    bn = nn.BatchNorm2D(3, momentum=momentum).astype("float64")
    x1, x2 = arr((2, 3, 2, 2), 1) * 2 + 0.5, arr((2, 3, 2, 2), 2) * 3 - 1
    bn(md.tensor(x1))
    y2 = bn(md.tensor(x2))
    bn.eval()
    y3 = bn(md.tensor(x1))
    want = BN_PINNED[str(momentum)]
    np.testing.assert_allclose(y2.numpy(), want["y2"], atol=1e-9)
    np.testing.assert_allclose(bn.running_mean.numpy(), want["rm"], atol=1e-10)
    np.testing.assert_allclose(bn.running_var.numpy(), want["rv"], atol=1e-10)
    np.testing.assert_allclose(y3.numpy(), want["y3"], atol=1e-9)
    assert int(bn.num_batches_tracked.numpy()) == want["n"] == 2


def test_batch_norm_1d_without_running_stats_uses_the_batch_in_eval_too():
    bn = nn.BatchNorm1D(2, affine=False, track_running_stats=False).astype("float64")
    x = md.tensor(arr((3, 2, 4), 3))
    np.testing.assert_allclose(bn(x).numpy(), BN_PINNED["1d"], atol=1e-9)
    bn.eval()
    np.testing.assert_allclose(bn(x).numpy(), BN_PINNED["1d_eval"], atol=1e-9)
    assert list(bn.parameters()) == [] and list(bn.state_dict()) == []


def test_batch_norm_state_dict_as_pytorch_and_dtype_rules():
    bn = nn.BatchNorm2d(4)
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert bn.num_batches_tracked.dtype == np.int64
    bn.double()
    assert bn.running_mean.dtype == np.float64 and bn.num_batches_tracked.dtype == np.int64
    y = bn(md.randn(2, 4, 3, 3))  # float32 data into a float64 layer computes in float64
    assert y.dtype == np.float64
    with pytest.raises(TypeError, match="BatchNorm2D: expected floating-point input"):
        bn(md.tensor(np.ones((2, 4, 3, 3), dtype=np.int64)))
    with pytest.raises(ValueError, match=r"BatchNorm2D: expected input of shape \(N, 4, H, W\), got \(2, 3, 3, 3\)"):
        bn(md.randn(2, 3, 3, 3))
    with pytest.raises(ValueError, match=r"BatchNorm1D: expected input of shape \(N, 4\) or \(N, 4, L\)"):
        nn.BatchNorm1d(4)(md.randn(2, 4, 3, 3))


def test_batch_norm_gradcheck_in_train_and_eval():
    bn = nn.BatchNorm1D(3).astype("float64")
    bn.weight.data[:] = [0.5, -1.0, 2.0]
    x = md.tensor(arr((4, 3), 5), requires_grad=True)
    assert md.gradcheck(lambda x: bn(x), x)
    bn.eval()
    assert md.gradcheck(lambda x, w, b: bn(x), x, bn.weight, bn.bias)


@pytest.mark.parametrize("layer,shape", [(nn.BatchNorm2D, (4, 3, 5, 6)), (nn.BatchNorm1D, (6, 3, 7))])
def test_sequential_fuses_batch_norm_and_relu_with_the_same_numbers(layer, shape):
    """Sequential runs BatchNorm + ReLU as one op (forward_relu): same outputs, gradients
    and running statistics as the two layers apart, in training and in eval."""
    x = md.tensor(np.random.default_rng(0).standard_normal(shape) * 2 + 1, dtype="float32",
                  requires_grad=True)
    fused_bn, apart_bn = layer(3), layer(3)
    with md.no_grad():
        for bn in (fused_bn, apart_bn):
            bn.weight.data[...] = [0.5, -1.5, 2.0]
            bn.bias.data[...] = [0.1, 0.3, -0.2]
    model = nn.Sequential(fused_bn, nn.ReLU(), nn.Flatten())
    for training in (True, False):
        model.train(training), apart_bn.train(training)
        fused = model(x)
        op = fused.creator.inputs[0].creator  # Flatten's input: the fused op in training
        assert op.relu if training else type(op).__name__ == "ReLU"
        fused.sum().backward()
        grads = [t.grad.numpy().copy() for t in (x, fused_bn.weight, fused_bn.bias)]
        x.grad = None
        apart = F.relu(apart_bn(x)).reshape(shape[0], -1)
        apart.sum().backward()
        np.testing.assert_allclose(fused.numpy(), apart.numpy(), rtol=1e-6, atol=1e-6)
        for got, t in zip(grads, (x, apart_bn.weight, apart_bn.bias)):
            np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-5, atol=1e-5)
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            np.testing.assert_allclose(getattr(fused_bn, name).numpy(), getattr(apart_bn, name).numpy())
        x.grad = None


def test_sequential_does_not_fuse_a_batch_norm_subclass_or_a_wrapped_relu():
    class Shifted(nn.BatchNorm2D):
        def forward(self, x):
            return super().forward(x) + 1

    x = md.tensor(np.random.default_rng(1).standard_normal((2, 2, 3, 3)), dtype="float32")
    expected = F.relu(nn.BatchNorm2D(2)(x) + 1).numpy()
    np.testing.assert_allclose(nn.Sequential(Shifted(2), nn.ReLU())(x).numpy(), expected, rtol=1e-6)
    seen = []
    relu = nn.ReLU()
    relu.forward = lambda t: seen.append(t.shape) or F.relu(t)
    nn.Sequential(nn.BatchNorm2D(2), relu)(x)
    assert seen == [(2, 2, 3, 3)]
