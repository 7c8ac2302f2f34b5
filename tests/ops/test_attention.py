"""F.scaled_dot_product_attention: PyTorch's numbers (pinned from torch 2.13), masks, gradchecks."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

import minidl as md
import minidl.functional as F


def arr(shape, k):
    return np.sin(np.arange(np.prod(shape)) * 0.7 + k).reshape(shape)


# q = arr((2, 3, 4), 9), k = arr((2, 5, 4), 10), v = arr((2, 5, 3), 11), float64; loss = sum(out * arr((2, 3, 3), 12))
BOOL_MASK = np.array([[True, True, False, True, False], [False] * 5, [True] * 5])  # True = attend
SDPA_OUT = [[[-0.6511444437, -0.3652681158, 0.0923995144], [0.0, 0.0, 0.0], [0.0648124763, 0.1720249608, 0.1983314183]], [[0.171311559, -0.3185002482, -0.658516412], [0.0, 0.0, 0.0], [-0.1047479214, -0.0800370796, -0.0176835486]]]
SDPA_GQ = [[[0.0091546652, 0.018126956, 0.0185738562, 0.0102851816], [0.0, 0.0, 0.0, 0.0], [-0.1898095509, -0.1899988715, -0.100828754, 0.035762702]], [[0.0807982658, 0.0412913526, -0.0176355289, -0.0682681455], [0.0, 0.0, 0.0, 0.0], [0.1375585753, 0.0952028845, 0.0080717895, -0.0828555941]]]
SDPA_GK = [[[0.0751204011, 0.0375890026, -0.0176210912, -0.0645437105], [-0.0667008509, -0.0351174469, 0.0129822411, 0.0549761783], [0.0690200667, 0.0306027391, -0.0222075348, -0.0645732581], [0.0542216754, 0.0253028754, -0.0155162622, -0.0490378593], [-0.1316612922, -0.0583771702, 0.0423626472, 0.1231786496]], [[0.0095874786, -0.0085455789, -0.0226595171, -0.0261163303], [-0.086643732, -0.0739410192, -0.0264626897, 0.0334614563], [0.1612456859, 0.188735129, 0.1274594919, 0.0062376642], [0.002998421, -0.0041967415, -0.009418111, -0.0102099957], [-0.0871878535, -0.1020517894, -0.0689191742, -0.0033727944]]]
SDPA_GV = [[[-0.3782089918, -0.0855423639, 0.2473561743], [-0.2017106611, -0.1219234603, 0.015206249], [-0.1140848413, -0.2243734809, -0.2291357665], [-0.1729769188, -0.084751218, 0.0433343049], [-0.1420134913, -0.2793014482, -0.2852295697]], [[-0.4067314218, -0.1171524978, 0.2275250764], [-0.1548826405, -0.0645949076, 0.0560728197], [-0.1427926505, -0.2741134832, -0.2765144616], [-0.1575537544, -0.046278367, 0.0867624595], [-0.1475226349, -0.28319345, -0.2856739604]]]
CAUSAL_OUT = [[[-0.9999902066, -0.7619835839, -0.1656041754], [0.0442129887, 0.4185909389, 0.5960990298], [0.0903824508, -0.0595193371, -0.1814282507]], [[0.4716390031, -0.2073364206, -0.788798286], [-0.7525230201, -0.6504588848, -0.2424737723], [0.3675267608, 0.3945683755, 0.2360383178]]]


def inputs():
    return [md.tensor(arr(s, k), requires_grad=True) for s, k in (((2, 3, 4), 9), ((2, 5, 4), 10), ((2, 5, 3), 11))]


def test_bool_mask_and_scale_match_torch():
    q, k, v = inputs()
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=BOOL_MASK, scale=0.3)
    (out * md.tensor(arr((2, 3, 3), 12))).sum().backward()
    for got, want in ((out, SDPA_OUT), (q.grad, SDPA_GQ), (k.grad, SDPA_GK), (v.grad, SDPA_GV)):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-9)


def test_causal_matches_torch_and_equals_its_float_mask():
    q, k, v = inputs()
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    np.testing.assert_allclose(out.numpy(), CAUSAL_OUT, atol=1e-9)
    future = np.where(np.triu(np.ones((3, 5), dtype=bool), k=1), -np.inf, 0.0)
    np.testing.assert_allclose(F.scaled_dot_product_attention(q, k, v, attn_mask=future).numpy(),
                               out.numpy(), atol=1e-12)


@given(batch=st.sampled_from([(), (2,), (2, 1), (1, 3)]), l_q=st.integers(1, 4), s=st.integers(1, 4),
       e=st.integers(1, 3), causal=st.booleans())
def test_gradcheck(batch, l_q, s, e, causal):
    rng = np.random.default_rng(l_q * 10 + s)
    q = md.tensor(rng.normal(size=(*batch, l_q, e)), requires_grad=True)
    k = md.tensor(rng.normal(size=(2, 1, s, e) if len(batch) == 2 else (*batch, s, e)), requires_grad=True)
    v = md.tensor(rng.normal(size=(*k.shape[:-1], 2)), requires_grad=True)
    assert md.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=causal), q, k, v)


def test_dropout_is_seeded_and_gradchecks():
    q, k, v = inputs()

    def run(q, k, v):
        md.manual_seed(3)
        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.4)

    np.testing.assert_array_equal(run(q, k, v).numpy(), run(q, k, v).numpy())
    assert md.gradcheck(run, q, k, v)
    zero = F.scaled_dot_product_attention(q, k, v, dropout_p=1.0).numpy()
    np.testing.assert_array_equal(zero, np.zeros_like(zero))


def test_float32_and_nan_propagate():
    q, k, v = (md.tensor(t.numpy(), dtype="float32") for t in inputs())
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=BOOL_MASK, scale=0.3)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), SDPA_OUT, atol=1e-6)
    qn = q.numpy().copy()
    qn[0, 0, 0] = np.nan
    y = F.scaled_dot_product_attention(md.tensor(qn), k, v).numpy()
    assert np.all(np.isnan(y[0, 0])) and np.all(np.isfinite(y[1]))


def test_errors_name_the_call():
    q, k, v = inputs()
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=BOOL_MASK, is_causal=True)
    with pytest.raises(ValueError, match="same E"):
        F.scaled_dot_product_attention(q, md.randn(2, 5, 3), v)
    with pytest.raises(TypeError, match="bool or float mask"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((3, 5), dtype=np.int64))
