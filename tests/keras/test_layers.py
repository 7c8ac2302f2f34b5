"""minidl.keras layers: shapes, Keras's layouts and initialisers, channels-last semantics,
gradients (float64 gradcheck of what is composed here), and the errors Keras users meet."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from minidl import keras
from minidl.keras import activations, layers


def built(layer, shape):
    layer.build_for(shape)
    return layer


def gradcheck_layer(layer, x, eps=1e-6, atol=1e-5, rtol=1e-3):
    """Central differences against autograd in float64, for the input and every trainable
    weight of `layer` (perturbed in place: the layer uses its own Parameter objects)."""
    layer.astype("float64")
    inp = md.tensor(x.astype(np.float64), requires_grad=True)
    mix = np.random.default_rng(1).normal(size=layer(inp).shape)

    def loss():
        return (layer(inp) * md.tensor(mix)).sum()
    layer.zero_grad()
    loss().backward()
    for t in [inp] + [p for p in layer.parameters() if p.requires_grad]:
        analytic = t.grad.numpy()
        flat, numeric = t.data.reshape(-1), np.zeros(t.size)
        with md.no_grad():
            for k in range(t.size):
                orig = flat[k]
                flat[k] = orig + eps
                plus = loss().item()
                flat[k] = orig - eps
                minus = loss().item()
                flat[k] = orig
                numeric[k] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(analytic.reshape(-1), numeric, atol=atol, rtol=rtol)


# ---- shapes and layouts -----------------------------------------------------------------------

def test_dense_kernel_is_in_units_and_glorot_uniform_bias_zero():
    md.manual_seed(0)
    layer = built(layers.Dense(300, input_shape=(200,)), (None, 200))
    kernel, bias = layer.get_weights()
    assert kernel.shape == (200, 300) and bias.shape == (300,) and not bias.any()
    limit = np.sqrt(6 / 500)
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.95 * limit
    assert abs(kernel.std() - limit / np.sqrt(3)) < 0.01 * limit


def test_conv2d_kernel_in_keras_layout_round_trips_and_computes_channels_last():
    md.manual_seed(0)
    layer = built(layers.Conv2D(5, (3, 2)), (None, 7, 6, 4))
    kernel, bias = layer.get_weights()
    assert kernel.shape == (3, 2, 4, 5)
    rng = np.random.default_rng(0)
    k = rng.normal(size=(3, 2, 4, 5)).astype(np.float32)
    b = rng.normal(size=5).astype(np.float32)
    layer.set_weights([k, b])
    np.testing.assert_array_equal(layer.get_weights()[0], k)
    x = rng.normal(size=(2, 7, 6, 4)).astype(np.float32)
    y = layer(x).numpy()
    # the same convolution written out in NHWC: y[n, i, j, f] = sum x[n, i+a, j+c, ch] k[a, c, ch, f]
    ref = np.zeros((2, 5, 5, 5), np.float32)
    for a in range(3):
        for c in range(2):
            ref += np.einsum("nijc,cf->nijf", x[:, a:a + 5, c:c + 5], k[a, c])
    np.testing.assert_allclose(y, ref + b, rtol=1e-5, atol=1e-5)


def test_flatten_uses_the_channels_last_order():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    np.testing.assert_array_equal(layers.Flatten()(x).numpy(), x.reshape(2, -1))


@pytest.mark.parametrize("size,kernel,stride", [(7, 3, 1), (8, 2, 1), (9, 3, 2), (8, 4, 3)])
def test_same_padding_gives_ceil_sizes_with_the_extra_pad_at_the_end(size, kernel, stride):
    md.manual_seed(1)
    conv = layers.Conv2D(2, kernel, strides=stride, padding="same")
    x = np.random.default_rng(2).normal(size=(1, size, size, 3)).astype(np.float32)
    y = conv(x).numpy()
    out = -(-size // stride)
    assert y.shape == (1, out, out, 2)
    total = max((out - 1) * stride + kernel - size, 0)
    before = total // 2
    padded = np.pad(x, ((0, 0), (before, total - before), (before, total - before), (0, 0)))
    valid = layers.Conv2D(2, kernel, strides=stride)
    valid.build_for(padded.shape)
    valid.set_weights(conv.get_weights())
    np.testing.assert_allclose(y, valid(padded).numpy(), rtol=1e-5, atol=1e-6)


def test_pooling_layers_channels_last():
    x = np.random.default_rng(3).normal(size=(2, 5, 5, 3)).astype(np.float32)
    mx = layers.MaxPooling2D((2, 2))(x).numpy()
    np.testing.assert_array_equal(mx, x[:, :4, :4].reshape(2, 2, 2, 2, 2, 3).max(axis=(2, 4)))
    avg = layers.AveragePooling2D((2, 2))(x).numpy()
    np.testing.assert_allclose(avg, x[:, :4, :4].reshape(2, 2, 2, 2, 2, 3).mean(axis=(2, 4)), rtol=1e-6)
    same = layers.AveragePooling2D((2, 2), padding="same")(x).numpy()
    assert same.shape == (2, 3, 3, 3)
    np.testing.assert_allclose(same[:, 2, 2], x[:, 4, 4], rtol=1e-6)  # the pad is not counted
    np.testing.assert_allclose(same[:, 2, 0], x[:, 4, 0:2].mean(axis=1), rtol=1e-6)
    gap = layers.GlobalAveragePooling2D()(x).numpy()
    np.testing.assert_allclose(gap, x.mean(axis=(1, 2)), rtol=1e-6)
    assert layers.MaxPooling2D((2, 2), padding="same")(x).shape == (2, 3, 3, 3)


def test_lstm_weights_are_keras_layout_with_orthogonal_recurrent_kernel_and_forget_bias():
    md.manual_seed(0)
    lstm = built(layers.LSTM(4), (None, 6, 3))
    kernel, recurrent, bias = lstm.get_weights()
    assert kernel.shape == (3, 16) and recurrent.shape == (4, 16) and bias.shape == (16,)
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(4), atol=1e-5)  # orthogonal rows
    np.testing.assert_array_equal(bias, np.r_[np.zeros(4), np.ones(4), np.zeros(8)])
    x = np.random.default_rng(0).normal(size=(2, 6, 3)).astype(np.float32)
    seq = layers.LSTM(4, return_sequences=True)
    seq.build_for((None, 6, 3))
    seq.set_weights([kernel, recurrent, bias])
    np.testing.assert_allclose(lstm(x).numpy(), seq(x).numpy()[:, -1], rtol=1e-6)


def test_lstm_step_is_keras_cell_with_gates_i_f_c_o():
    lstm = built(layers.LSTM(2), (None, 1, 3))
    rng = np.random.default_rng(4)
    k, r, b = (rng.normal(size=s).astype(np.float32) for s in ((3, 8), (2, 8), (8,)))
    lstm.set_weights([k, r, b])
    x = rng.normal(size=(1, 1, 3)).astype(np.float32)
    z = x[:, 0] @ k + b

    def sig(v):
        return 1 / (1 + np.exp(-v))
    i, f, c, o = sig(z[:, :2]), sig(z[:, 2:4]), np.tanh(z[:, 4:6]), sig(z[:, 6:])
    np.testing.assert_allclose(lstm(x).numpy(), o * np.tanh(i * c + f * 0), rtol=1e-5)


def test_embedding_is_uniform_005_and_takes_integer_or_float_ids():
    md.manual_seed(0)
    emb = built(layers.Embedding(50, 8), (None, 4))
    table = emb.get_weights()[0]
    assert table.shape == (50, 8) and np.abs(table).max() <= 0.05
    ids = np.array([[1, 2, 3, 49]])
    np.testing.assert_array_equal(emb(ids).numpy(), table[ids])
    np.testing.assert_array_equal(emb(ids.astype(np.float32)).numpy(), table[ids])


def test_batch_normalization_trains_on_batch_statistics_and_infers_with_moving_ones():
    bn = built(layers.BatchNormalization(), (None, 4, 4, 3))
    x = np.random.default_rng(5).normal(2.0, 3.0, size=(8, 4, 4, 3)).astype(np.float32)
    y = bn(x, training=True).numpy()
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-4, atol=1e-5)
    gamma, beta, moving_mean, moving_var = bn.get_weights()
    np.testing.assert_allclose(moving_mean, 0.01 * mean, rtol=1e-5)
    np.testing.assert_allclose(moving_var, 0.99 + 0.01 * var, rtol=1e-5)
    np.testing.assert_allclose(bn(x).numpy(), (x - moving_mean) / np.sqrt(moving_var + 1e-3), rtol=1e-5)
    assert [p.requires_grad for p in bn.weights] == [True, True, False, False]
    assert bn.count_params() == 12 and len(bn.trainable_weights) == 2


def test_batch_normalization_trains_on_a_single_sample_as_keras():
    # Keras normalises one sample to beta and moves the variance towards 0 (biased); values
    # from Keras 3.15 (torch backend) for the same weights and input
    bn = built(layers.BatchNormalization(), (None, 3))
    bn.set_weights([np.full(3, 2.0, np.float32), np.array([0.5, -1.0, 0.25], np.float32),
                    np.array([0.1, 0.2, 0.3], np.float32), np.array([1.5, 2.0, 2.5], np.float32)])
    y = bn(np.array([[1.5, -2.0, 3.0]], np.float32), training=True).numpy()
    np.testing.assert_allclose(y, [[0.5, -1.0, 0.25]], rtol=1e-6)
    _, _, moving_mean, moving_var = bn.get_weights()
    np.testing.assert_allclose(moving_mean, [0.11400000005960464, 0.17800000309944153, 0.3270000219345093],
                               rtol=1e-6)
    np.testing.assert_allclose(moving_var, [1.4850000143051147, 1.9800000190734863, 2.4749999046325684],
                               rtol=1e-6)


def test_dropout_only_in_training_and_scales_the_kept_values():
    md.manual_seed(0)
    drop = layers.Dropout(0.5)
    x = np.ones((1000,), np.float32)
    np.testing.assert_array_equal(drop(x).numpy(), x)
    y = drop(x, training=True).numpy()
    assert set(np.unique(y)) == {0.0, 2.0} and 400 < (y == 0).sum() < 600


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "softmax", "linear", "gelu", "leaky_relu"])
def test_activations_by_name_match_keras_definitions(name):
    x = np.linspace(-6, 6, 49).reshape(7, 7)
    ref = {
        "relu": np.maximum(x, 0), "sigmoid": 1 / (1 + np.exp(-x)), "tanh": np.tanh(x),
        "softmax": np.exp(x) / np.exp(x).sum(-1, keepdims=True), "linear": x,
        # Keras's gelu (exact erf) and leaky_relu (negative_slope 0.2), values from Keras 3
        "gelu": None, "leaky_relu": np.where(x > 0, x, 0.2 * x),
    }[name]
    got = activations.get(name)(md.tensor(x)).numpy()
    if name == "gelu":
        from math import erf
        ref = np.array([[v * 0.5 * (1 + erf(v / np.sqrt(2))) for v in row] for row in x])
        np.testing.assert_allclose(got, ref, rtol=2e-7, atol=1e-30)
    else:
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-15)


def test_gelu_and_leaky_relu_pinned_from_keras():
    x = md.tensor(np.array([-3.0, -1.0, -0.1, 0.0, 0.5, 2.0, -6.0], np.float32))
    # keras.activations.gelu / leaky_relu of the same float32 values, Keras 3.15 (torch backend);
    # Keras's float32 gelu is off by 5e-7 at -3 (the exact value is -0.00404969)
    gelu = [-0.004050225019454956, -0.15865525603294373, -0.04601721838116646, 0.0, 0.3457312285900116,
            1.9544997215270996, -0.0]
    leaky = [-0.6000000238418579, -0.20000000298023224, -0.020000001415610313, 0.0, 0.5, 2.0,
             -1.2000000476837158]
    np.testing.assert_allclose(activations.gelu(x).numpy(), gelu, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(activations.leaky_relu(x).numpy(), leaky, rtol=1e-7)


# ---- gradients of what minidl.keras composes itself ---------------------------------------------

@pytest.mark.parametrize("make,shape", [
    (lambda: layers.Activation("gelu"), (3, 4)),
    (lambda: layers.Activation("leaky_relu"), (3, 4)),
    (lambda: layers.BatchNormalization(), (5, 2, 2, 3)),
    (lambda: layers.AveragePooling2D((2, 2), padding="same"), (2, 3, 5, 2)),
    (lambda: layers.Conv2D(2, 2, padding="same"), (1, 3, 4, 2)),
    (lambda: layers.MaxPooling2D((2, 2), strides=1, padding="same"), (1, 3, 3, 2)),
    (lambda: layers.GRU(3, return_sequences=True), (2, 4, 3)),
    (lambda: layers.GlobalAveragePooling2D(), (2, 3, 3, 2)),
])
def test_gradcheck_float64(make, shape):
    md.manual_seed(0)
    layer = make()
    x = np.random.default_rng(7).normal(size=shape)
    x += 0.01 * np.arange(x.size).reshape(shape)  # no ties in max pooling
    layer.build_for(shape)
    layer.train()
    gradcheck_layer(layer, x)


# ---- errors as Keras users meet them --------------------------------------------------------------

def test_channels_first_images_get_an_error_saying_so_and_how_to_fix_it():
    model = keras.Sequential([layers.Conv2D(8, (3, 3), input_shape=(28, 28, 1)), layers.Flatten(),
                              layers.Dense(10)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.zeros((4, 1, 28, 28), np.float32)
    with pytest.raises(ValueError, match=r"channels-first.*transpose\(0, 2, 3, 1\)"):
        model.fit(x, np.zeros(4, int), verbose=0)
    with pytest.raises(ValueError, match=r"\(None, 28, 28, 1\).*\(4, 1, 28, 28\)"):
        model.predict(x, verbose=0)
    lazy = keras.Sequential([layers.Conv2D(8, (3, 3)), layers.Flatten(), layers.Dense(10)])
    with pytest.raises(ValueError, match=r"too small.*channels-first"):
        lazy.predict(x, verbose=0)
    with pytest.raises(ValueError, match=r"x\[\.\.\., None\]"):
        model.predict(np.zeros((4, 28, 28), np.float32), verbose=0)


def test_label_shapes_that_do_not_fit_the_loss_name_both_shapes():
    model = keras.Sequential([layers.Dense(3, activation="softmax", input_shape=(4,))])
    x = np.zeros((6, 4), np.float32)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"labels of shape \(6, 3\).*outputs of shape \(6, 3\).*"
                                         r"categorical_crossentropy"):
        model.fit(x, np.eye(3)[np.arange(6) % 3], verbose=0, batch_size=6)
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    with pytest.raises(ValueError, match=r"labels of shape \(6,\).*\(6, 3\).*sparse_categorical"):
        model.fit(x, np.arange(6) % 3, verbose=0, batch_size=6)
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    with pytest.raises(ValueError, match=r"labels of shape \(6,\).*\(6, 3\)"):
        model.evaluate(x, np.ones(6), verbose=0, batch_size=6)


def test_unknown_names_list_the_known_ones():
    with pytest.raises(ValueError, match="unknown activation 'swishy'.*gelu, leaky_relu, linear"):
        layers.Dense(3, activation="swishy")
    with pytest.raises(ValueError, match="unknown optimizer 'adamx'.*adam, adamw, rmsprop, sgd"):
        keras.optimizers.get("adamx")
    model = keras.Sequential([layers.Dense(1, input_shape=(2,))])
    with pytest.raises(ValueError, match="unknown loss 'huber_x'.*binary_crossentropy"):
        model.compile(loss="huber_x")
    with pytest.raises(ValueError, match="unknown metric 'auc'.*accuracy"):
        model.compile(loss="mse", metrics=["auc"])
    with pytest.raises(ValueError, match="unknown initializer 'xavier'.*glorot_uniform"):
        layers.Dense(2, kernel_initializer="xavier")
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        layers.Conv2D(2, 3, padding="full")


def test_set_weights_in_pytorch_layout_says_which_layout_is_expected():
    conv = built(layers.Conv2D(4, (3, 3)), (None, 8, 8, 2))
    with pytest.raises(ValueError, match=r"\(3, 3, 2, 4\).*\(4, 2, 3, 3\).*transpose\(2, 3, 1, 0\)"):
        conv.set_weights([np.zeros((4, 2, 3, 3)), np.zeros(4)])
    before = conv.get_weights()
    with pytest.raises(ValueError, match="expects a list of 2 arrays"):
        conv.set_weights([before[0]])
    np.testing.assert_array_equal(conv.get_weights()[0], before[0])


def test_a_minidl_nn_layer_in_a_keras_model_is_refused_with_the_keras_name():
    with pytest.raises(TypeError, match="channels-first.*keras.layers.MaxPooling2D"):
        keras.Sequential([md.nn.MaxPool2D(2)])


def test_integer_images_are_cast_to_float32_and_names_are_keras_ones():
    keras.backend.clear_session()
    model = keras.Sequential([layers.Conv2D(2, 3, input_shape=(5, 5, 1)), layers.Flatten(), layers.Dense(2)])
    assert [l.name for l in model.layers] == ["conv2d", "flatten", "dense"] and model.name == "sequential"
    out = model.predict(np.ones((3, 5, 5, 1), np.uint8), verbose=0)
    assert out.dtype == np.float32 and out.shape == (3, 2)


@pytest.mark.parametrize("make", [lambda act: layers.Dense(6, activation=act),
                                  lambda act: layers.Conv2D(4, 3, padding="same", activation=act)],
                         ids=["Dense", "Conv2D"])
def test_relu_activation_runs_fused_with_the_same_numbers(make):
    """activation="relu" runs the layer's op fused with the ReLU (one graph node): the same
    outputs and gradients as the linear layer followed by an Activation("relu")."""
    shape = (2, 5, 5, 3)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    fused, linear = make("relu"), make(None)
    fused(md.tensor(x)), linear(md.tensor(x))  # built
    linear.set_weights(fused.get_weights())
    results = []
    for layer, after in ((fused, lambda t: t), (linear, layers.Activation("relu"))):
        xt = md.tensor(x, requires_grad=True)
        y = after(layer(xt))
        results.append((y, xt))
    (y_f, x_f), (y_l, x_l) = results
    op = y_f.creator if isinstance(fused, layers.Dense) else y_f.creator.inputs[0].creator
    assert op.relu  # the layer's op rectified its own output
    np.testing.assert_array_equal(y_f.numpy(), y_l.numpy())
    y_f.sum().backward()
    y_l.sum().backward()
    np.testing.assert_allclose(x_f.grad.numpy(), x_l.grad.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fused.kernel.grad.numpy(), linear.kernel.grad.numpy(), rtol=1e-6, atol=1e-6)
