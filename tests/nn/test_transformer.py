"""nn.TransformerEncoderLayer and nn.TransformerEncoder: PyTorch's numbers (pinned from torch
2.13, dropout 0), submodule names, masks."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from minidl import nn


def arr(shape, k):
    return np.sin(np.arange(np.prod(shape)) * 0.7 + k).reshape(shape)


# torch.nn.TransformerEncoderLayer(4, 2, 6, 0.0, activation, batch_first=True, norm_first=...),
# float64; parameter i (torch's order and layout) = arr(shape, i) * 0.3 (+1 for norm weights);
# x = arr((2, 3, 4), 20), src_key_padding_mask [[F, F, T], [F, F, F]], loss = sum(y * arr(y.shape, 21))
PINNED = {"False-relu": {"y": [[[0.7824656014, 0.1559282056, -0.4078065043, -1.0052325767], [0.7640986982, -1.1896787604, -0.4063290644, 0.6446371877], [-0.069516446, 0.265256458, 0.483157338, -1.3213885609]], [[1.1162124386, -0.4129860174, -0.672421301, -0.3438991378], [-1.548446974, -0.2948447688, 0.8897297751, 0.4014826196], [1.0291477782, -0.1419369883, -0.6591913537, -0.5985608611]]], "gx": [[[0.1092118624, -0.0131528881, 0.0984329669, 0.0258913914], [-2.9125525329, -0.5185180487, 1.0854093549, 2.2775430338], [2.0510319702, 0.1628814879, -1.3374719291, -0.8258876116]], [[0.1220009576, -0.4690106205, -0.1945626468, 0.5084456776], [-0.0784424372, 0.5881595929, 0.3577802787, -0.8668348436], [0.0887255372, -0.1282050165, -0.0861881708, 0.0986479666]]], "glin1": [[0.115246718, 0.0, 0.5768267482, 0.251021448, 0.120732348, -0.2069235978], [-0.1701630159, 0.0, -0.1561692494, 0.1750309776, 0.1873042164, 0.1894446446], [-0.0556713959, 0.0, -0.1321711192, 0.0023901044, 0.1312661108, 0.1140146762], [0.0442890841, 0.0, -0.3384171258, -0.3019214603, -0.4041890234, -0.0549832482]]}, "False-gelu": {"y": [[[0.7467604104, 0.1770251832, -0.3629367883, -1.0475164305], [0.7769863416, -1.1936803774, -0.3910298574, 0.6178928306], [-0.0909559806, 0.2644142825, 0.4988800458, -1.3169836135]], [[1.1125784227, -0.3799499734, -0.6494552637, -0.4076597525], [-1.5332721478, -0.277121817, 0.9165436738, 0.3322598814], [1.0101730145, -0.106123556, -0.6285161531, -0.6590406357]]], "gx": [[[0.1653008421, -0.03122019, 0.0529038884, 0.0525259272], [-3.1315625731, -0.5688134732, 1.1952443262, 2.4399282398], [2.0525830349, 0.1628995003, -1.3383968191, -0.8264883817]], [[0.1205130262, -0.4616743614, -0.1903317595, 0.5010880073], [-0.0787168785, 0.5575316064, 0.3314117659, -0.810235708], [0.0927916591, -0.132721624, -0.0904445473, 0.1050656529]]], "glin1": [[0.0563230031, 0.1350564635, 0.6108193763, 0.2835093476, 0.2095373549, -0.1528631565], [-0.1136226263, -0.0133694695, -0.1304399261, 0.0963301759, 0.1917238484, 0.1261208068], [-0.0378211438, -0.0787682121, -0.2179683138, -0.0696923891, 0.0759349146, 0.1233897972], [0.0502370779, -0.0154172114, -0.2457334361, -0.2060394533, -0.4158272424, -0.0927477569]]}, "True-relu": {"y": [[[1.4228223869, 1.006449465, 0.4588867559, -0.2779150688], [-0.3250312734, -0.869489931, -0.9034164273, -0.4595152319], [0.8715431902, 0.9891633436, 0.9123627524, 0.2988091221]], [[0.4310376603, -0.7245413394, -1.0961540341, -0.9334812075], [0.216809428, 0.7001941217, 0.6953252305, 0.7364439756], [1.0931496176, -0.1266538925, -0.8522065306, -1.1401667803]]], "gx": [[[0.8848703713, 0.2681969829, -0.441812336, -0.8802897793], [-0.914069952, -0.5723070583, 0.0249342211, 0.6596595543], [0.9336297329, 0.8288266856, 0.316649411, -0.399154916]], [[-0.9001190103, -0.9965459468, -0.5820547171, 0.1147283451], [0.6951807817, 1.0029569587, 0.8047452307, 0.2719770022], [-0.4306711038, -0.9061484905, -0.960475905, -0.5677832897]]], "glin1": [[0.0868571326, 0.0, 0.0239315993, -0.0744700158, -0.1188476221, -0.1953374808], [-0.2274326229, 0.0, -0.123188119, 0.0576613053, 0.2703218041, 0.2237523102], [-0.0439709636, 0.0, -0.0690789116, 0.0709789678, 0.1738219607, 0.1991379802], [0.1528450532, 0.0, 0.2310684701, -0.0888917585, -0.4336944797, -0.3168211255]]}, "True-gelu": {"y": [[[1.3487804445, 1.0448087817, 0.4953165581, -0.351994595], [-0.3983681525, -0.8525097243, -0.8467290083, -0.5320786797], [0.8237371655, 1.0244333115, 0.9255858102, 0.2505736598]], [[0.3395022104, -0.6735762879, -1.0545909202, -1.0251997917], [0.1267432096, 0.701468369, 0.7841420218, 0.6480829421], [1.0041921703, -0.0810688782, -0.8079461764, -1.2291500297]]], "gx": [[[0.8848437648, 0.2659188341, -0.4382688301, -0.8815285299], [-0.8972798647, -0.5794509364, 0.0325090432, 0.6424385231], [1.0061068494, 0.8358418797, 0.2676285218, -0.4296263374]], [[-0.901155053, -0.9904467928, -0.5829251436, 0.1105356604], [0.6968031149, 1.0049580515, 0.810139634, 0.2629591729], [-0.4303239265, -0.9066096957, -0.960919565, -0.5672256019]]], "glin1": [[0.0966961158, 0.0363399476, 0.0187260053, -0.0657461255, -0.1115247264, -0.1657027764], [-0.1248175456, -0.055965915, -0.0799293627, 0.0418349549, 0.2010570927, 0.1925144642], [-0.0802931517, -0.0660285665, -0.0451782374, 0.0575278876, 0.1595615035, 0.1551116099], [0.1362418699, 0.1436855373, 0.1475988098, -0.0621056272, -0.3597788782, -0.2547885458]]}}
PAD = np.array([[False, False, True], [False, False, False]])


def layer(norm_first: bool, activation: str) -> nn.TransformerEncoderLayer:
    m = nn.TransformerEncoderLayer(4, 2, 6, 0.0, activation, norm_first=norm_first).astype("float64")
    for i, (name, p) in enumerate(m.named_parameters()):
        torch_shape = p.shape[::-1] if p.ndim == 2 else p.shape  # Dense-style weights are (in, out)
        value = arr(torch_shape, i) * 0.3 + (1.0 if "norm" in name and "weight" in name else 0.0)
        p.data[...] = value.T if p.ndim == 2 else value
    return m


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_matches_torch(norm_first, activation):
    m = layer(norm_first, activation)
    x = md.tensor(arr((2, 3, 4), 20), requires_grad=True)
    y = m(x, src_key_padding_mask=PAD)
    (y * md.tensor(arr((2, 3, 4), 21))).sum().backward()
    want = PINNED[f"{norm_first}-{activation}"]
    np.testing.assert_allclose(y.numpy(), want["y"], atol=1e-9)
    np.testing.assert_allclose(x.grad.numpy(), want["gx"], atol=1e-9)
    np.testing.assert_allclose(m.linear1.weight.grad.numpy(), want["glin1"], atol=1e-9)


def test_submodule_names_as_pytorch():
    m = nn.TransformerEncoderLayer(8, 2, 16)
    assert [n for n, _ in m.named_parameters()] == [
        "self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
        "self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
        "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"]


def test_encoder_copies_the_layer_and_applies_norm():
    base = layer(False, "relu")
    enc = nn.TransformerEncoder(base, num_layers=2, norm=nn.LayerNorm(4).astype("float64"))
    names = [n for n, _ in enc.named_parameters()]
    assert names[0] == "layers.0.self_attn.in_proj_weight" and "layers.1.norm2.bias" in names
    assert names[-2:] == ["norm.weight", "norm.bias"]
    a, b = enc.layers[0].linear1.weight, enc.layers[1].linear1.weight
    assert a is not b and np.array_equal(a.numpy(), b.numpy())
    x = md.tensor(arr((2, 3, 4), 20))
    want = enc.norm(base(base(x, src_key_padding_mask=PAD), src_key_padding_mask=PAD))
    np.testing.assert_allclose(enc(x, src_key_padding_mask=PAD).numpy(), want.numpy(), atol=1e-12)


def test_causal_mask_keeps_the_past_independent_of_the_future():
    m = layer(True, "gelu")
    x = arr((1, 3, 4), 20)
    causal = np.triu(np.ones((3, 3), dtype=bool), k=1)  # True = masked out (nn modules)
    y = m(md.tensor(x), src_mask=causal, is_causal=True).numpy()
    x2 = x.copy()
    x2[0, 2] += 5.0  # change the last step only
    y2 = m(md.tensor(x2), src_mask=causal, is_causal=True).numpy()
    np.testing.assert_allclose(y[0, :2], y2[0, :2], atol=1e-12)
    assert not np.allclose(y[0, 2], y2[0, 2])


def test_gradcheck_and_bad_activation():
    m = layer(False, "relu")
    x = md.tensor(arr((2, 3, 4), 20), requires_grad=True)
    assert md.gradcheck(lambda x: m(x, src_key_padding_mask=PAD), x)
    with pytest.raises(ValueError, match="activation must be one of"):
        nn.TransformerEncoderLayer(4, 2, activation="swish")
