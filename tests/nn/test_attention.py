"""nn.MultiheadAttention: PyTorch's numbers (pinned from torch 2.13), masks, shapes, errors."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from minidl import nn

E, H, N, L, S = 4, 2, 2, 3, 3


def arr(shape, k):
    return np.sin(np.arange(np.prod(shape)) * 0.7 + k).reshape(shape)


KPM = np.array([[False, False, True], [False, False, False]])  # True = masked out
AM = np.array([[False, True, True], [False, False, True], [False, False, False]])
# torch.nn.MultiheadAttention(4, 2, batch_first=True), float64, in_proj_weight = arr((12, 4), 1) * 0.5,
# in_proj_bias = arr((12,), 2) * 0.1, out_proj.weight = arr((4, 4), 3) * 0.5, out_proj.bias =
# arr((4,), 4) * 0.1; x = arr((2, 3, 4), 5), kv = arr((2, 3, 4), 6); loss = sum(out * arr(out.shape, 8))
PINNED = {"self_masks": {"out": [[[-0.003421344, -0.2739190251, 0.1782198893, -0.3257582664], [-0.0643661972, -0.1650999728, 0.034101258, -0.1629937306], [-0.2202297931, 0.0685271875, -0.2502926057, 0.1393036131]], [[-0.3918895997, 0.2840285594, -0.4847332132, 0.3655925971], [0.084243827, -0.2235930642, -0.0042817711, -0.032169944], [-0.3172485561, 0.0879916384, -0.1899535236, 0.0061334999]]], "w": [[[1.0, 0.0, 0.0], [0.7087547426, 0.2912452574, 0.0], [0.2062141848, 0.7937858152, 0.0]], [[1.0, 0.0, 0.0], [0.4628545242, 0.5371454758, 0.0], [0.2372537552, 0.2682965192, 0.4944497256]]], "gq": [[[-0.029588806, -0.0949034017, -0.1155834447, -0.0819027876], [-0.0702040159, -0.0347327492, 0.0170738722, 0.0608503847], [0.0168978337, 0.0148613394, 0.005835325, -0.005935134]], [[0.0394818855, 0.0323431678, 0.0099929529, -0.0170571039], [-0.060847004, -0.0496019574, -0.0150283352, 0.0266133479], [-0.0139434363, -0.0278163408, -0.0286067857, -0.0159430122]]], "gw_in": [[-0.0544918393, 0.0940842771, 0.0379566662, -0.0555449663, 0.1403296771, -0.11135556, -0.0950722823, 0.0776379698, -0.0135685643, 0.0641595357, 0.1490429326, 0.2222391202], [-0.053597618, 0.0843475574, 0.0315761834, -0.0756587016, 0.0883626454, -0.067362213, -0.1504534668, 0.1361389564, 0.1398663406, 0.1373204646, 0.1226111013, 0.1552290755], [-0.0274955994, 0.0349408635, 0.0103449282, -0.0601889673, -0.0051627192, 0.0083126353, -0.135074035, 0.1306116645, 0.2275199201, 0.1458974333, 0.0385133533, 0.0152123711], [0.0115380292, -0.0308990645, -0.0157517084, -0.0164114212, -0.0962599762, 0.0800779213, -0.0561671739, 0.063655666, 0.208167326, 0.0858565594, -0.0636978266, -0.1319589492]]}, "cross_float": {"out": [[[-0.1364507703, -0.0476578812, -0.1151272936, 0.0007771283], [-0.2096640093, -0.0030333668, -0.1260064836, -0.0233461545], [-0.08644593, -0.1053853453, -0.0563479214, -0.052261883]], [[-0.1348368172, -0.1315673714, 0.0413815457, -0.2102456314], [-0.1745078386, 0.0337309529, -0.2304429809, 0.1366943278], [-0.2482891112, -0.0128582587, -0.0688669164, -0.1211976161]]], "w": [[[0.209429274, 0.5131511654, 0.2774195606], [0.6870625965, 0.1094729223, 0.2034644811], [0.0915036672, 0.6893861276, 0.2191102052]], [[0.0860131612, 0.6988962909, 0.2150905479], [0.7920367007, 0.0703975916, 0.1375657077], [0.0638287384, 0.6031832231, 0.3329880385]]], "gq": [[[0.018337978, -0.0048125245, -0.0256996215, -0.034499785], [0.00417754, 0.0191089014, 0.0250530479, 0.0192143545], [0.0044583982, -0.009978759, -0.0197227499, -0.0201908234]], [[-0.0037177754, 0.0011049103, 0.0054079395, 0.0071675302], [-0.002984115, -0.0052301191, -0.0050163164, -0.0024432618], [0.0114361976, 0.0263433335, 0.0288607881, 0.017804563]]], "gw_in": [[-0.0460497989, 0.0579226504, 0.1364638788, -0.1064129766, 0.0102240456, 0.0080846861, -0.0766661504, 0.042034007, 0.0556525504, -0.1281614044, -0.0549665062, 0.095854872], [-0.0288843779, 0.0263684008, 0.1161057171, -0.099285864, -0.0094684376, 0.0233174548, -0.0338886099, 0.0378495836, -0.0666350008, -0.0060201148, 0.0370064689, 0.1608832722], [0.0018658173, -0.0175873197, 0.0411412224, -0.0454630581, -0.0247077667, 0.0275836601, 0.0248272733, 0.0158639096, -0.1575830699, 0.1189525288, 0.1115747235, 0.1502457557], [0.0317384895, -0.0532714489, -0.053172632, 0.0297417344, -0.028326647, 0.0188768391, 0.0718665019, -0.013582809, -0.174417359, 0.1879799395, 0.1336676422, 0.0689453126]]}, "self_plain_heads": {"out": [[[-0.1055752628, -0.1349136638, 0.0184258943, -0.1636406838], [-0.0093580825, -0.2538282455, 0.146296665, -0.2856914957], [-0.0787014984, -0.1038012103, -0.0670775676, -0.0336265932]], [[-0.3293660076, 0.1036921634, -0.2074228431, 0.0233529409], [0.028115061, -0.1586253004, -0.070581162, 0.0277998268], [-0.3172485561, 0.0879916384, -0.1899535236, 0.0061334999]]], "w": [[[[0.2319727283, 0.4240316322, 0.3439956395], [0.5365905073, 0.1931802912, 0.2702292014], [0.14558229, 0.5313504885, 0.3230672215]], [[0.3592492784, 0.2791571757, 0.3615935459], [0.4234179638, 0.1972264302, 0.379355606], [0.1589221147, 0.6462902665, 0.1947876188]]], [[[0.2935690863, 0.0740401421, 0.6323907716], [0.2103024469, 0.6875569094, 0.1021406436], [0.3096376699, 0.1035208196, 0.5868415105]], [[0.1914157388, 0.4073967194, 0.4011875418], [0.5301872875, 0.2365526428, 0.2332600697], [0.1648698406, 0.4330722187, 0.4020579407]]]], "gq": [[[0.0613649218, 0.0386829291, -0.0021922496, -0.042036379], [-0.1228418313, -0.064723079, 0.0238359487, 0.1011845573], [0.0169861694, -0.0440550936, -0.0843765577, -0.0850144083]], [[0.0316910919, 0.024623076, 0.0059744427, -0.0154840644], [-0.070940624, -0.0583789545, -0.0183607505, 0.0302928014], [0.0080961684, -0.0006246374, -0.0090516665, -0.0132215553]]], "gw_in": [[-0.0383689174, 0.1423878762, 0.0366722103, -0.0544546215, 0.2516335963, -0.2109868633, -0.0907384631, 0.0725490107, 0.1380244206, 0.011458968, -0.0895203857, -0.0656593296], [-0.0297725063, 0.1061834856, 0.0257611107, -0.0719997288, 0.2101932731, -0.1761734758, -0.1540821963, 0.1406028687, 0.210357588, 0.1051540821, -0.0658482068, -0.0409757495], [-0.0071736202, 0.0200393427, 0.0027341582, -0.0556822387, 0.0698957691, -0.0585029498, -0.144958665, 0.1425290006, 0.1837562947, 0.1493935882, -0.0112065873, 0.0029793659], [0.0187991315, -0.0755296163, -0.0215787116, -0.0131765216, -0.1032748072, 0.0866824276, -0.0676588085, 0.0774215165, 0.0707315448, 0.1233709555, 0.0487056653, 0.0455332389]]}}


def model() -> nn.MultiheadAttention:
    m = nn.MultiheadAttention(E, H).astype("float64")
    m.in_proj_weight.data[...] = (arr((3 * E, E), 1) * 0.5).T
    m.in_proj_bias.data[...] = arr((3 * E,), 2) * 0.1
    m.out_proj.weight.data[...] = (arr((E, E), 3) * 0.5).T
    m.out_proj.bias.data[...] = arr((E,), 4) * 0.1
    return m


@pytest.mark.parametrize("case", ["self_masks", "cross_float", "self_plain_heads"])
def test_matches_torch(case):
    x, kv = arr((N, L, E), 5), arr((N, S, E), 6)
    q = md.tensor(x, requires_grad=True)
    k = q if case.startswith("self") else md.tensor(kv, requires_grad=True)
    kwargs = {"self_masks": dict(key_padding_mask=KPM, attn_mask=AM),
              "cross_float": dict(attn_mask=arr((L, S), 7)),
              "self_plain_heads": dict(average_attn_weights=False)}[case]
    m = model()
    out, weights = m(q, k, k, **kwargs)
    (out * md.tensor(arr(out.shape, 8))).sum().backward()
    want = PINNED[case]
    np.testing.assert_allclose(out.numpy(), want["out"], atol=1e-9)
    np.testing.assert_allclose(weights.numpy(), want["w"], atol=1e-9)
    np.testing.assert_allclose(q.grad.numpy(), want["gq"], atol=1e-9)
    np.testing.assert_allclose(m.in_proj_weight.grad.numpy(), want["gw_in"], atol=1e-9)


def test_parameters_and_init_as_pytorch():
    m = nn.MultiheadAttention(8, 2)
    assert [n for n, _ in m.named_parameters()] == ["in_proj_weight", "in_proj_bias",
                                                    "out_proj.weight", "out_proj.bias"]
    assert m.in_proj_weight.shape == (8, 24) and m.in_proj_bias.shape == (24,)
    bound = np.sqrt(6 / (8 + 24))  # Glorot over PyTorch's (3E, E)
    assert np.abs(m.in_proj_weight.numpy()).max() <= bound
    assert np.all(m.in_proj_bias.numpy() == 0)


def test_gradcheck_with_masks():
    m = model()
    q = md.tensor(arr((N, L, E), 5), requires_grad=True)
    kv = md.tensor(arr((N, S, E), 6), requires_grad=True)
    assert md.gradcheck(lambda q, kv: m(q, kv, kv, key_padding_mask=KPM)[0], q, kv)
    assert md.gradcheck(lambda q: m(q, q, q, attn_mask=AM, need_weights=False)[0], q)


def test_need_weights_false_and_unbatched_and_sequence_first():
    m = model()
    x = arr((N, L, E), 5)
    out, weights = m(x, x, x, need_weights=False)
    assert weights is None
    single, w1 = m(x[0], x[0], x[0])
    np.testing.assert_allclose(single.numpy(), out.numpy()[0], atol=1e-12)
    assert w1.shape == (L, L)
    seq_first = nn.MultiheadAttention(E, H, batch_first=False).astype("float64")
    seq_first.load_state_dict(m.state_dict())
    y, _ = seq_first(*(md.tensor(x.transpose(1, 0, 2)),) * 3)
    np.testing.assert_allclose(y.numpy().transpose(1, 0, 2), out.numpy(), atol=1e-12)


def test_fully_padded_row_gives_nan_weights_as_pytorch_and_zeros_without():
    m = model()
    x = arr((1, L, E), 5)
    all_masked = np.ones((1, L), dtype=bool)
    out, weights = m(x, x, x, key_padding_mask=all_masked)
    assert np.all(np.isnan(weights.numpy())) and np.all(np.isnan(out.numpy()))
    out, _ = m(x, x, x, key_padding_mask=all_masked, need_weights=False)
    np.testing.assert_allclose(out.numpy(), np.broadcast_to(m.out_proj.bias.numpy(), out.shape))


def test_dropout_only_in_training():
    m = nn.MultiheadAttention(E, H, dropout=0.5)
    x = md.randn(2, 3, E)
    m.eval()
    a, _ = m(x, x, x)
    b, _ = m(x, x, x)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    m.train()
    md.manual_seed(1)
    c, w = m(x, x, x, average_attn_weights=False)
    assert np.any(w.numpy() == 0)  # dropped weights are returned after dropout, as PyTorch


def test_errors_name_the_layer():
    with pytest.raises(ValueError, match="multiple of num_heads"):
        nn.MultiheadAttention(6, 4)
    m = nn.MultiheadAttention(4, 2)
    with pytest.raises(ValueError, match=r"MultiheadAttention: expected query \(N, L, 4\)"):
        m(md.randn(2, 3, 5), md.randn(2, 3, 5), md.randn(2, 3, 5))
    with pytest.raises(ValueError, match="key_padding_mask must be"):
        x = md.randn(2, 3, 4)
        m(x, x, x, key_padding_mask=np.zeros((2, 4), dtype=bool))
    with pytest.raises(RuntimeError, match="is_causal=True is a hint that needs attn_mask"):
        x = md.randn(2, 3, 4)
        m(x, x, x, is_causal=True)
