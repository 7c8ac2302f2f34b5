"""nn.LSTM and nn.GRU (uni- and bidirectional): shapes, parameters, initialisation, gradients,
PyTorch's numbers, errors."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md
import minidl.functional as F
from minidl import nn, optim
from tests.helpers import assert_close
from tests.strategies import seeds

# ---- known values: torch.nn.LSTM(3, 2, num_layers=2, batch_first=True) in float64 with
# weight_ih_l{k} = W_ih.T, weight_hh_l{k} = W_hh.T, bias_ih_l{k} = b, bias_hh_l{k} = 0,
# weights from `_fill` below; loss = sum(out*WO) + sum(h_n*WH) + sum(c_n*WC). Gradients
# of weights are given in minidl's (in, 4H) layout (torch's transposed).
N, T, IN, H, L = 2, 3, 3, 2, 2


def _fill(shape: tuple[int, ...], phase: float, scale: float = 0.5) -> np.ndarray:
    return scale * np.sin(np.arange(int(np.prod(shape))) * 0.7 + phase).reshape(shape)


X = 0.8 * np.cos(np.arange(N * T * IN) * 0.3).reshape(N, T, IN)
H0 = 0.3 * np.sin(np.arange(L * N * H) * 1.1).reshape(L, N, H)
C0 = 0.4 * np.cos(np.arange(L * N * H) * 0.9).reshape(L, N, H)
WO = np.cos(np.arange(N * T * H) * 0.5).reshape(N, T, H)
WH = np.sin(np.arange(L * N * H) * 0.8 + 1).reshape(L, N, H)
WC = np.cos(np.arange(L * N * H) * 0.6 + 2).reshape(L, N, H)

# torch's results, with the initial state (H0, C0) and without (zeros)
STATE = {
    "out": [[[-0.018050294898709147, 0.022683807310967672], [0.0858587914576896, 0.08757864467855206], [0.14835633944105367, 0.1259937202684813]], [[0.17509097928317485, 0.1762897884601934], [0.19435259760251888, 0.1865028586980198], [0.2014444736419541, 0.20104106992666482]]],
    "hn": [[[-0.2447413603300897, -0.2417876566844353], [-0.21701068105203183, -0.033649321634971904]], [[0.14835633944105367, 0.1259937202684813], [0.2014444736419541, 0.20104106992666482]]],
    "cn": [[[-0.5156876921029426, -0.3776243297029509], [-0.39570075337372657, -0.055786203734811385]], [[0.29524344978394024, 0.3219753908505635], [0.38406568878021274, 0.48502372974582525]]],
    "gx": [[[0.0035161119812548844, 0.0015420538253820358, -0.0011241833216698671], [0.0076064637264288745, 0.01237627572278237, 0.01159077058082068], [0.11162097588703751, 0.0242945066407408, -0.07393699511543911]], [[0.011511966172787411, 0.0009494002173410523, -0.010039321345547546], [0.06767488210336853, -0.020834568594814147, -0.0999920430946067], [0.11369733416020233, -0.18524186766466522, -0.4010318778246531]]],
    "gh0": [[[0.003479251334859923, 0.003925904699389654], [0.016855705411634506, 0.014876769198374344]], [[0.07124152824509358, 0.027417175859856598], [-0.04244825219480085, -0.0611173059482027]]],
    "gc0": [[[0.00989972873185854, -0.009432611820666284], [-0.007226116146041842, -0.006930133959315394]], [[0.18130617028730103, 0.1399852925291344], [-0.21352413352452404, 0.08576445131575236]]],
    "g_w_ih_l0": [[-0.03340701671582544, -0.02045372553668262, -0.03696278648067944, -0.03109365701345464, 0.12205246897755588, 0.20232007774901495, 0.06684617928071698, 0.01496068352594714], [-0.022168741461435163, -0.02972037765350884, -0.0030758948192824275, -0.018498747471551596, 0.025037119220475607, 0.0945889053295614, 0.07239953647334472, 0.035888093533245014], [-0.008950198556376007, -0.036332196949297874, 0.031085757365533605, -0.004251399911931927, -0.0742147218297391, -0.02159161229345996, 0.07148565869681581, 0.05360972702897615]],
    "g_w_hh_l1": [[-0.005266151941215011, 0.04025787769052987, 0.01715473043248234, 0.04596635843139275, -0.01984853965844217, 0.08816497896796748, -0.02495836754843135, -0.006629530536770587], [-0.01640737190771771, 0.04243740829233016, 0.009355973814250748, 0.04685008453256986, -0.032984344260547346, 0.09783561108534225, -0.04102311417356202, -0.027647158221563158]],
    "g_b_l0": [0.09061745923170805, 0.045912764670290804, 0.15745099886023947, 0.08936504855853425, -0.4501909049475756, -0.7438190933796563, -0.1913635441817706, -0.09413012674987241],
    "g_b_l1": [-0.0816842688572156, 0.20910279300030588, -0.014405114388999317, 0.22642830009855938, -0.055012411533245986, 0.6045032772320686, -0.22882308126011902, -0.13452995571829135],
}
ZERO = {
    "out": [[[0.09228604065693988, 0.07358856577328429], [0.14629058797827083, 0.12255123982691982], [0.17894755715543095, 0.14880577980532786]], [[0.102135369936842, 0.0667672550476304], [0.15859783604052768, 0.11530610640467144], [0.18463036852710132, 0.15368689155515444]]],
    "hn": [[[-0.26623273564828914, -0.2364129795010949], [-0.21614603411880332, -0.03286023019174884]], [[0.17894755715543095, 0.14880577980532786], [0.18463036852710132, 0.15368689155515444]]],
    "cn": [[[-0.5606630287178291, -0.366383347669254], [-0.39555272833907973, -0.05460224961862608]], [[0.3541468745082962, 0.3799871412026085], [0.35794712926173733, 0.36803583798706235]]],
    "gx": [[[0.0022054050701601456, 0.00281661957736961, 0.00216354300374351], [0.009925400158241914, 0.015110838741838252, 0.013513501689439069], [0.11379683743156126, 0.02327341028450601, -0.07769671164509656]], [[0.01045959465380644, 0.004122726176933366, -0.004064703155265385], [0.06515299094600285, -0.020794991592665776, -0.097408762792361], [0.11327439999242518, -0.184754951062597, -0.3998536718523874]]],
    "g_w_ih_l0": [[-0.028906293527402684, -0.01920921767733765, -0.03585631506895565, -0.023274868453125347, 0.12032269156464884, 0.19723144154648523, 0.07263245932238993, 0.015064626413465025], [-0.018260925137350188, -0.027098790705671377, -0.0035686072136430318, -0.012566886709692016, 0.025103100148561444, 0.08970736884889807, 0.07978499220642604, 0.03538010799079046], [-0.005984362690400622, -0.032567709467273734, 0.02903787369585556, -0.0007363424038274689, -0.07235887644045852, -0.025829995936881178, 0.07981056935641183, 0.05253518989214805]],
    "g_w_hh_l1": [[-0.00585330756623368, 0.02423243853342353, -0.0007321036249566867, 0.014783939073546528, -0.004428910307253068, 0.07766260573240383, -0.01982526361741718, -0.010032954459704322], [-0.0065667968046947715, 0.016218265685500617, -0.0016670989277997395, 0.010089756567369068, -0.007081913440933637, 0.05218575246815174, -0.015683852112962512, -0.009687143606114347]],
    "g_b_l0": [0.08628263105916456, 0.043019005172196506, 0.15035184982922128, 0.07827922543999799, -0.4340928112829648, -0.7251156589317521, -0.21433993133328455, -0.09203919480723567],
    "g_b_l1": [-0.06344525774490484, 0.20687164656744925, -0.012075349690664514, 0.09896033521171546, -0.033065631611662, 0.6965673312582392, -0.14128750815803037, -0.08275856839062148],
}


def _known_model(backend: str, batch_first: bool = True) -> nn.LSTM:
    md.set_backend(backend)
    m = nn.LSTM(IN, H, num_layers=L, batch_first=batch_first).astype("float64")
    state = {}
    for k in range(L):
        in_k = IN if k == 0 else H
        state[f"weight_ih_l{k}"] = _fill((in_k, 4 * H), 3 * k)
        state[f"weight_hh_l{k}"] = _fill((H, 4 * H), 3 * k + 1)
        state[f"bias_l{k}"] = _fill((4 * H,), 3 * k + 2)
    m.load_state_dict(state)
    return m


def _t(a: np.ndarray, backend: str, requires_grad: bool = True) -> md.Tensor:
    return md.tensor(a, dtype="float64", requires_grad=requires_grad, device=backend)


def _check_known(m: nn.LSTM, out, h_n, c_n, ref: dict) -> None:
    assert_close(out, ref["out"])
    assert_close(h_n, ref["hn"])
    assert_close(c_n, ref["cn"])
    assert_close(m.weight_ih_l0.grad, ref["g_w_ih_l0"])
    assert_close(m.weight_hh_l1.grad, ref["g_w_hh_l1"])
    assert_close(m.bias_l0.grad, ref["g_b_l0"])
    assert_close(m.bias_l1.grad, ref["g_b_l1"])


def test_known_values_with_initial_state_match_torch(backend):
    m = _known_model(backend)
    x, h0, c0 = _t(X, backend), _t(H0, backend), _t(C0, backend)
    out, (h_n, c_n) = m(x, (h0, c0))
    loss = (out * _t(WO, backend, False)).sum() + (h_n * _t(WH, backend, False)).sum() \
        + (c_n * _t(WC, backend, False)).sum()
    loss.backward()
    _check_known(m, out, h_n, c_n, STATE)
    assert_close(x.grad, STATE["gx"])
    assert_close(h0.grad, STATE["gh0"])
    assert_close(c0.grad, STATE["gc0"])


def test_known_values_zero_state_time_major_match_torch(backend):
    # the same model run time-major (batch_first=False) on the transposed input
    m = _known_model(backend, batch_first=False)
    x = _t(X.transpose(1, 0, 2).copy(), backend)
    out, (h_n, c_n) = m(x)
    assert out.shape == (T, N, H)
    loss = (out * _t(WO.transpose(1, 0, 2), backend, False)).sum() \
        + (h_n * _t(WH, backend, False)).sum() + (c_n * _t(WC, backend, False)).sum()
    loss.backward()
    _check_known(m, out.transpose(1, 0, 2), h_n, c_n, ZERO)
    assert_close(x.grad.numpy().transpose(1, 0, 2), ZERO["gx"])


def test_zero_state_equals_explicit_zeros():
    m = _known_model("numpy")
    out, (h_n, c_n) = m(_t(X, "numpy", False))
    zeros = np.zeros((L, N, H))
    out2, (h2, c2) = m(_t(X, "numpy", False), (_t(zeros, "numpy"), _t(zeros, "numpy")))
    assert_close(out, out2)
    assert_close(h_n, h2)
    assert_close(c_n, c2)


# ---- parameters and initialisation ----------------------------------------------------

def test_parameter_names_shapes_and_order():
    m = nn.LSTM(5, 3, num_layers=3)
    assert [(n, p.shape) for n, p in m.named_parameters()] == [
        ("weight_ih_l0", (5, 12)), ("weight_hh_l0", (3, 12)), ("bias_l0", (12,)),
        ("weight_ih_l1", (3, 12)), ("weight_hh_l1", (3, 12)), ("bias_l1", (12,)),
        ("weight_ih_l2", (3, 12)), ("weight_hh_l2", (3, 12)), ("bias_l2", (12,)),
    ]
    assert all(p.dtype == np.float32 and p.requires_grad for p in m.parameters())
    assert list(m.state_dict()) == [n for n, _ in m.named_parameters()]


def test_default_initialisation_forget_bias_and_uniform_weights():
    md.manual_seed(0)
    h = 16
    m = nn.LSTM(8, h, num_layers=2)
    for k in range(2):
        expected = np.zeros(4 * h, dtype=np.float32)
        expected[h: 2 * h] = 1.0  # unit forget bias
        np.testing.assert_array_equal(getattr(m, f"bias_l{k}").numpy(), expected)
        for name in ("weight_ih", "weight_hh"):
            w = getattr(m, f"{name}_l{k}").numpy()
            bound = 1 / np.sqrt(h)
            assert np.abs(w).max() <= bound
            assert w.std() == pytest.approx(bound / np.sqrt(3), rel=0.15)  # U(-b, b)
            assert abs(w.mean()) < 0.05


def test_initialisation_is_seeded():
    md.manual_seed(3)
    a = nn.LSTM(2, 3).state_dict()
    md.manual_seed(3)
    b = nn.LSTM(2, 3).state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_repr():
    assert repr(nn.LSTM(4, 8, num_layers=2, batch_first=False)) == \
        "LSTM(4, 8, num_layers=2, batch_first=False)"


# ---- shapes and layout ----------------------------------------------------------------

def test_output_shapes_and_last_step_equals_h_n(backend):
    md.set_backend(backend)
    m = nn.LSTM(3, 4, num_layers=2)
    out, (h_n, c_n) = m(md.randn(5, 7, 3))
    assert out.shape == (5, 7, 4) and h_n.shape == c_n.shape == (2, 5, 4)
    assert out.dtype == np.float32
    assert_close(out[:, -1], h_n[-1])


def test_batch_first_false_is_the_transposed_layout():
    md.manual_seed(1)
    a = nn.LSTM(3, 2, num_layers=2, batch_first=True)
    b = nn.LSTM(3, 2, num_layers=2, batch_first=False)
    b.load_state_dict(a.state_dict())
    x = md.randn(4, 5, 3)
    out_a, (h_a, c_a) = a(x)
    out_b, (h_b, c_b) = b(x.transpose(1, 0, 2))
    assert_close(out_b.transpose(1, 0, 2), out_a, rtol=1e-6)
    assert_close(h_b, h_a, rtol=1e-6)
    assert_close(c_b, c_a, rtol=1e-6)


def test_no_grad_records_nothing():
    m = nn.LSTM(2, 2)
    with md.no_grad():
        out, (h_n, _) = m(md.randn(1, 3, 2))
    assert not out.requires_grad and not h_n.requires_grad


# ---- gradients ------------------------------------------------------------------------

def _bind(m: nn.Module, names: list[str], tensors: tuple[md.Tensor, ...]) -> None:
    """Point the module's parameters at gradcheck's perturbed copies."""
    for name, t in zip(names, tensors):
        object.__setattr__(m, name, t)


@settings(max_examples=8)
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@given(n=st.integers(1, 2), t=st.integers(1, 3), in_size=st.integers(1, 3), h=st.integers(1, 3),
       layers=st.integers(1, 3), batch_first=st.booleans(), with_state=st.booleans(),
       bidirectional=st.booleans(), seed=seeds)
def test_gradcheck(backend, kind, n, t, in_size, h, layers, batch_first, with_state, bidirectional, seed):
    md.set_backend(backend)
    md.manual_seed(seed)
    m = getattr(nn, kind)(in_size, h, num_layers=layers, batch_first=batch_first,
                          bidirectional=bidirectional).astype("float64")
    d = 2 if bidirectional else 1
    rng = np.random.default_rng(seed)
    # random biases too (the LSTM's default is 0/1), so every gate works away from its init point
    for p in m.parameters():
        p.data[...] = md.tensor(rng.uniform(-1, 1, p.shape), dtype="float64", device=backend).data
    names = [name for name, _ in m.named_parameters()]
    shape = (n, t, in_size) if batch_first else (t, n, in_size)
    x = _t(rng.uniform(-1, 1, shape), backend)
    h0 = _t(rng.uniform(-1, 1, (layers * d, n, h)), backend)
    c0 = _t(rng.uniform(-1, 1, (layers * d, n, h)), backend)

    def fn(x, h0, c0, *params):
        _bind(m, names, params)
        if kind == "GRU":
            return m(x, h0 if with_state else None)
        out, (h_n, c_n) = m(x, (h0, c0) if with_state else None)
        return out, h_n, c_n

    inputs = (x, h0, c0) if with_state and kind == "LSTM" else \
        (x, h0, c0.detach()) if with_state else (x, h0.detach(), c0.detach())
    assert md.gradcheck(fn, *inputs, *m.parameters())


def test_long_sequence_backward_has_no_recursion_limit():
    m = nn.LSTM(2, 3).astype("float64")
    x = md.randn(1, 1000, 2, dtype="float64", requires_grad=True)
    out, (h_n, _) = m(x)
    (out.sum() + h_n.sum()).backward()
    assert x.grad.shape == (1, 1000, 2)
    assert np.isfinite(x.grad.numpy()).all() and np.abs(x.grad.numpy()[0, 0]).sum() > 0
    assert m.weight_hh_l0.grad.shape == (3, 12)


def test_initial_state_without_grad_and_only_h_n_used():
    m = nn.LSTM(2, 2).astype("float64")
    x = md.randn(2, 3, 2, dtype="float64", requires_grad=True)
    state = (md.zeros(1, 2, 2, dtype="float64"), md.zeros(1, 2, 2, dtype="float64"))
    _, (h_n, _) = m(x, state)
    h_n.sum().backward()
    assert x.grad is not None and state[0].grad is None


# ---- errors ---------------------------------------------------------------------------

def test_bad_input_shape_names_layer_and_shapes():
    m = nn.LSTM(3, 4)
    with pytest.raises(ValueError, match=r"LSTM: expected input of shape \(N, T, input_size\) "
                                         r"with input_size=3.*got \(2, 5, 4\)"):
        m(md.zeros(2, 5, 4))
    with pytest.raises(ValueError, match=r"LSTM: expected input.*got \(5, 3\)"):
        m(md.zeros(5, 3))
    with pytest.raises(ValueError, match=r"\(T, N, input_size\)"):
        nn.LSTM(3, 4, batch_first=False)(md.zeros(2, 5))
    with pytest.raises(ValueError, match="LSTM: the sequence is empty"):
        m(md.zeros(2, 0, 3))
    with pytest.raises(TypeError, match="LSTM: expected floating-point input, got dtype int64"):
        m(md.tensor(np.zeros((1, 2, 3), dtype=np.int64)))


def test_bad_state_names_layer_and_shapes():
    m = nn.LSTM(3, 4, num_layers=2)
    x = md.zeros(5, 6, 3)
    good = md.zeros(2, 5, 4)
    with pytest.raises(ValueError, match=r"LSTM: expected h_0 of shape .* = \(2, 5, 4\), got \(1, 5, 4\)"):
        m(x, (md.zeros(1, 5, 4), good))
    with pytest.raises(ValueError, match=r"LSTM: expected c_0 .*got \(2, 5, 3\)"):
        m(x, (good, md.zeros(2, 5, 3)))
    with pytest.raises(ValueError, match=r"LSTM: state must be a pair \(h_0, c_0\)"):
        m(x, good)
    with pytest.raises(ValueError, match="of length 3"):
        m(x, (good, good, good))


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("args", [(0, 4), (3, 0), (3, 4, 0), (3.0, 4), (3, True)])
def test_bad_constructor_arguments(kind, args):
    with pytest.raises(ValueError, match=f"{kind}: .* must be a positive integer"):
        getattr(nn, kind)(*args)


# ---- learning -------------------------------------------------------------------------

class _RunningSign(nn.Module):
    """An LSTM or GRU + a Dense head giving one logit per step."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.rnn = getattr(nn, kind)(1, 16)
        self.head = nn.Dense(16, 1)

    def forward(self, x: md.Tensor) -> md.Tensor:
        return self.head(self.rnn(x)[0])


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_learns_the_sign_of_a_running_sum(kind):
    md.manual_seed(0)
    rng = np.random.default_rng(0)

    def batch(n: int) -> tuple[md.Tensor, np.ndarray]:
        x = rng.uniform(-1, 1, (n, 15, 1)).astype(np.float32)
        return md.tensor(x), np.cumsum(x, axis=1) > 0  # target at every step

    model = _RunningSign(kind)
    opt = optim.Adam(model.parameters(), lr=0.02)
    for _ in range(250):
        x, y = batch(64)
        loss = F.binary_cross_entropy_with_logits(model(x), md.tensor(y.astype(np.float32)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with md.no_grad():
        x, y = batch(1000)  # fresh sequences
        pred = model(x).numpy() > 0
    assert (pred == y).mean() >= 0.95
    assert (pred[:, -1] == y[:, -1]).mean() >= 0.95  # after the whole sequence


# ==== bidirectional layers and nn.GRU =====================================================
# Known values from torch 2.13, float64, torch.nn.{GRU,LSTM}(3, 2, num_layers=2,
# batch_first=True, bidirectional=...) with the parameters of `_filled` below copied in
# (weights transposed; the LSTM's bias as bias_ih and zeros as bias_hh); inputs X2, H02,
# C02 and loss = sum(out*WO2) + sum(h_n*WH2) (+ sum(c_n*WC2) for the LSTM), the arrays
# shaped for D directions. Weight gradients in minidl's (in, G*H) layout.


def _inputs(d: int) -> dict[str, np.ndarray]:
    k = L * d * N * H
    return {"x": X, "h0": 0.3 * np.sin(np.arange(k) * 1.1).reshape(L * d, N, H),
            "c0": 0.4 * np.cos(np.arange(k) * 0.9).reshape(L * d, N, H),
            "wo": np.cos(np.arange(N * T * d * H) * 0.5).reshape(N, T, d * H),
            "wh": np.sin(np.arange(k) * 0.8 + 1).reshape(L * d, N, H),
            "wc": np.cos(np.arange(k) * 0.6 + 2).reshape(L * d, N, H)}


GRU_BI_STATE = {
    "out": [[[0.36045312281944136, 0.2452103126970407, -0.7456062976624345, -0.5842571381521956], [0.4003810926076083, 0.4359545732135105, -0.6100804630866461, -0.5255731985687725], [0.4050030940007193, 0.5193268120638377, -0.3218045902397723, -0.2871802832047993]], [[0.1584221449500904, 0.23787457482601948, -0.7844847575312883, -0.706027574239628], [0.3374904939585569, 0.4563174379349102, -0.6765299470893406, -0.6957762640763812], [0.3736310374665187, 0.5535519112262184, -0.4028155757187617, -0.5777370305115906]]],
    "hn": [[[-0.42453502423185685, -0.20375652302606798], [-0.6270821110279694, -0.2684457088420888]], [[0.020941116120721276, -0.2692430339166701], [0.17947710644767942, -0.13222729055719415]], [[0.4050030940007193, 0.5193268120638377], [0.3736310374665187, 0.5535519112262184]], [[-0.7456062976624345, -0.5842571381521956], [-0.7844847575312883, -0.706027574239628]]],
    "gx": [[[-0.2924285804072935, 0.17946628586871516, 0.11645800298137116], [-0.2204702167166263, 0.23772241369855066, -0.012621754865263998], [-0.18202733957248074, 0.5599617203647399, -0.3670272463182569]], [[-0.0447619883405809, 0.08313435130354224, -0.036753042362820926], [0.01948985328895205, 0.027103103313475006, -0.04606503267164422], [0.087744958488783, 0.018285834398081804, -0.10567461487059011]]],
    "gh0": [[[-0.12570097956852058, -0.054810435996767416], [-0.06619514078683925, 0.053061644271950446]], [[-0.16430342989798596, -0.5027705930237749], [-0.2791611277879528, 0.17353376680144847]], [[0.33923126353890964, 0.27920244132261357], [0.34869612080414547, 0.19527998233444016]], [[-0.028120780746720225, 0.047572594536850074], [-0.18493713909091813, 0.0678386001675827]]],
    "g_weight_ih_l0": [[0.011062761469358534, 0.0026353196298652885, -0.03375021053922282, -0.0039028766843777537, -0.3089338923821257, -0.028489338517228523], [0.010167932266772003, -0.011572557611977955, -0.027696587254405002, -0.009732179818357832, -0.2941169181015523, -0.2736588163346614], [0.008364831957451321, -0.02474669274832693, -0.019168910317545734, -0.01469213631404034, -0.25302735548103494, -0.4943831671136202]],
    "g_weight_hh_l1": [[-0.016533381847254544, -0.006587418903672678, 0.03459762104163126, 0.042553863929271206, -0.04686991937911501, -0.022388866994237828], [-0.021304976530112724, -0.011284915026346803, 0.03187125189586715, 0.07375881012381516, -0.0705966254716525, -0.03752406565165604]],
    "g_weight_hh_l0_reverse": [[0.00016838820139585773, -0.018577580861140724, -0.0021770338172830694, 0.01117974419950074, -0.008404046107481465, 0.10504343608335645], [-0.00027379450361453544, -0.027567901278454647, -0.00802774211180562, 0.021698469754295364, 0.009235625060317812, 0.16448088841845981]],
    "g_weight_ih_l1_reverse": [[-0.02068188422486663, -0.017692456608967597, 0.14258636758295062, 0.02177207097252436, 0.1983620392904196, 0.33812910656280426], [-0.007945759437239892, -0.004595367706462455, 0.06334777611864477, 0.009052765001604075, 0.07808663398461992, 0.08807485693076536], [0.0001247100469579741, -0.0019449098346242346, -0.011974602096995426, 0.00032949568516062525, -0.0015037159603006867, 0.036028161497822744], [-0.008362168966265765, -0.011498528631202553, 0.03626077316856997, 0.019568923008954086, 0.0785391739617526, 0.23283154712445833]],
    "g_bias_ih_l0": [-0.02654156085093027, 0.03666676849115346, -0.024697210557645226, 0.04025614353703458, 0.44507088853587107, 0.7614577405781575],
    "g_bias_hh_l0": [-0.026541560850930276, 0.03666676849115346, -0.02469721055764522, 0.04025614353703458, 0.27531068045984164, 0.3641123120298936],
    "g_bias_hh_l1": [0.06036264280172763, 0.0039436527734642395, -0.15383479296631358, -0.07557865788572316, 0.11209947679889343, -0.024982043729540132],
    "g_bias_hh_l0_reverse": [0.019419425620796984, 0.09867419854396398, 0.06374936374684378, 0.021036111092754283, -0.27084696981109246, -0.5405538170061845],
    "g_bias_ih_l1_reverse": [0.04571013431170357, 0.04315323320163943, -0.2899411013205375, -0.0673710612299114, -0.43827320058476554, -0.8686586881818819],
}
GRU_ZERO = {
    "out": [[[0.05182609880651151, -0.13064635213577974], [0.09408486163634289, -0.21866065280837454], [0.1298788570440541, -0.27851433170083273]], [[0.05424999278849152, -0.12898497993812147], [0.09291083100207839, -0.22698168103726432], [0.12142319610884587, -0.30056167565089287]]],
    "hn": [[[-0.44005535346040264, -0.2183350530467269], [-0.6244786350786923, -0.2578565607827597]], [[0.1298788570440541, -0.27851433170083273], [0.12142319610884587, -0.30056167565089287]]],
    "gx": [[[-0.03842824013793359, 0.06350743003363916, -0.023842169481124404], [-0.1062767609534565, 0.21938372142942347, -0.1088337259600806], [-0.08054853409944195, 0.4953558368469367, -0.4051585847575361]], [[-0.0450531120430276, 0.07288889848902312, -0.02641603043666723], [0.016617284532632965, 0.019279389534099984, -0.035521143228503256], [0.08685163911903235, -0.02741666887245382, -0.05996900191936181]]],
    "g_weight_ih_l0": [[0.009991996111560344, 0.008070473841963834, -0.009680812288573764, -0.0009407473456151541, -0.195943616960122, 0.15701428336566847], [0.008227729949580024, -0.013862942185618222, -0.004137669730773254, -0.0051611782683666976, -0.15754054413013135, -0.22568769539087302], [0.005728505175450413, -0.03455802287508336, 0.0017750785410573428, -0.008920576507690478, -0.1050648436883125, -0.5882296644728]],
    "g_weight_hh_l1": [[0.0010949002311646037, 0.0024292179707157083, 0.005948506959164154, -0.0037623005240065032, -0.026078370116222778, -0.018678930377089658], [-0.0026155148339237176, -0.005674438274900511, -0.014149940762257361, 0.008763480362216164, 0.061997390054986334, 0.04346126308945757]],
    "g_bias_ih_l0": [-0.016718640856505783, 0.07114834323769911, -0.01406874899780637, 0.04675607373726292, 0.3673008426848904, 1.5081910772032945],
    "g_bias_hh_l0": [-0.016718640856505783, 0.07114834323769909, -0.014068748997806364, 0.046756073737262926, 0.2247004034807564, 0.7128343033732815],
    "g_bias_hh_l1": [0.02942562084346364, 0.044075727127965245, 0.13060987039391625, -0.09643388123495641, -0.5213231504117941, -0.33574480885742164],
}
LSTM_BI_STATE = {
    "out": [[[-0.07624891963121028, -0.1632098156650798, 0.146005686504517, 0.1905980022038162], [-0.1714734445867119, -0.16567194324734127, 0.1288125102505858, 0.17543259801832678], [-0.24917239109884687, -0.17592745204870064, 0.08811537990366929, 0.16390831790355706]], [[-0.24279871085973198, -0.13250810265634536, 0.2048034882600639, 0.1703103288661318], [-0.2466042838195218, -0.09981515337051368, 0.20207453106543574, 0.15233972967163295], [-0.22328190150362456, -0.08599814605025215, 0.1927569022960438, 0.12092205622854607]]],
    "hn": [[[-0.2447413603300897, -0.2417876566844353], [-0.21701068105203183, -0.03364932163497189]], [[-0.08949787385547824, 0.0707301075332936], [0.20446713133469535, 0.17112888602152404]], [[-0.24917239109884687, -0.17592745204870064], [-0.22328190150362456, -0.08599814605025215]], [[0.146005686504517, 0.1905980022038162], [0.2048034882600639, 0.1703103288661318]]],
    "cn": [[[-0.5156876921029426, -0.3776243297029509], [-0.39570075337372657, -0.05578620373481137]], [[-0.1472313785633826, 0.10883712072624013], [0.42001200420320517, 0.6744600030953494]], [[-0.5156255262395126, -0.2883319663456577], [-0.43484600002377904, -0.1419795442205391]], [[0.2474108733828336, 0.38239791482334934], [0.39912604312850997, 0.4151902642832235]]],
    "gx": [[[0.046368070016370944, 0.20566916196154042, 0.2726518985419668], [0.019841290822004795, 0.06432192487507023, 0.0799304895244034], [0.12198676158953566, 0.06577257181471664, -0.019964836706817344]], [[-0.07873008423351878, -0.022315672807296075, 0.04411553546284325], [0.0015074373389925289, -0.08000414959550244, -0.1256044144699949], [0.0838455859892483, -0.23830275235205664, -0.45348455294791457]]],
    "gh0": [[[-0.0859631847208864, -0.04582480612125928], [-0.015085016855181304, 0.005491233968076342]], [[0.01652747928716859, 0.014963469098888712], [0.029254263084359557, -0.016421903544383783]], [[-0.09512067070458995, 0.0496067321235554], [-0.107656760746701, 0.03130985221135855]], [[0.020087568462923408, 0.05831332149818634], [0.031217332072813738, 0.04792650207299383]]],
    "gc0": [[[0.07673118851550279, 0.14285097002672575], [0.022841732352680527, 0.024673045590930195]], [[0.10570413038100687, 0.08630244249613601], [-0.005867334992994689, 0.2121516111840793]], [[0.23304384443228193, 0.14574056272873626], [0.19631917685544759, 0.13618831785107552]], [[-0.18864722975664214, -0.14442553603101224], [-0.1714721396733351, 0.044308492057633465]]],
    "g_weight_ih_l0": [[-0.007355280359913204, -0.009526774049503764, -0.01767136064492569, -0.009425554130904765, 0.13448006364862203, 0.2798900573021705, 0.12382076368380361, 0.03714046438285509], [0.005348155124234082, -0.007644520598924725, 0.011243310470632217, 0.005075574885095324, 0.035656177796309314, 0.13020754061379203, 0.13076440092909924, 0.06748128201149847], [0.017573855839283017, -0.005079404890546481, 0.039153650147251584, 0.019123317912946903, -0.06635276822549295, -0.031106027886850775, 0.126027243688634, 0.0917941976942646]],
    "g_weight_hh_l1": [[0.023232380250302623, -0.009455453729614142, 0.02160004569321095, -0.0021435993318715315, -0.05463250774825419, 0.1356609584011746, 0.021991605270880746, -0.004407166254749489], [0.03390362257049928, 0.008625805135329494, 0.011907245888366674, 0.0038650289473190274, -0.113811487463568, 0.0030571830712409, 0.013995792984132428, 0.008350219112330621]],
    "g_weight_hh_l0_reverse": [[0.018784282476206428, 0.047792615556719834, 0.016498543638160786, 0.02855581943114053, -0.014009849618123727, 0.053241637240283454, -0.009766781654189215, -0.0038782958956725504], [0.02198642949697851, 0.053307926570332315, 0.01342452449362673, 0.03440468583665701, -0.03275951291412315, 0.08136417950322652, -0.013246589068963586, -0.012800356052968396]],
    "g_weight_ih_l1_reverse": [[0.04582344221728027, -0.020346352948849313, 0.029973995265595847, -0.019336468249557388, 0.07462728410648012, -0.05651652902373635, 0.012734628189347048, -0.030126993950994482], [0.048027281426348545, 0.008629071692871935, 0.022747623993848796, 0.004794456651582635, 0.10633574252394275, 0.021206875945359402, 0.003940280813206387, -0.022867214564875296], [-0.02374349741818625, 0.011360579385370585, -0.018703756743494906, 0.009063631876823824, -0.04501035297587119, 0.025979653145400135, -0.008242202104414374, 0.008832204453113002], [-0.04812814448984085, -0.022087035950222867, -0.02973951836220218, -0.01759033814324409, -0.1267999979300403, -0.058181494170944384, -0.01451876583910046, -0.00461722643236141]],
    "g_bias_l0": [0.05361399385720892, -0.034107734890592684, 0.1493506890875881, 0.08328284414818375, -0.29702446985813935, -0.3951637486011247, -0.24738067818512693, -0.14701735201716884],
    "g_bias_l1_reverse": [-0.4219522546282892, -0.27706923685559665, -0.2271584821269186, -0.21512173164497017, -1.1505195441066232, -0.7080653465796749, -0.1197207197424677, -0.056445386630731856],
}


def _filled(kind: str, bidirectional: bool, backend: str, batch_first: bool = True) -> nn.Module:
    """The layer with parameter i (in named_parameters order) = _fill(shape, i)."""
    md.set_backend(backend)
    m = getattr(nn, kind)(IN, H, num_layers=L, batch_first=batch_first,
                          bidirectional=bidirectional).astype("float64")
    m.load_state_dict({name: _fill(p.shape, i) for i, (name, p) in enumerate(m.named_parameters())})
    return m


def _check_grads(m: nn.Module, ref: dict) -> None:
    for key, want in ref.items():
        if key.startswith("g_"):
            assert_close(getattr(m, key[2:]).grad, want)


def test_gru_bidirectional_known_values_with_initial_state_match_torch(backend):
    m = _filled("GRU", True, backend)
    v = _inputs(2)
    x, h0 = _t(v["x"], backend), _t(v["h0"], backend)
    out, h_n = m(x, h0)
    assert out.shape == (N, T, 2 * H) and h_n.shape == (2 * L, N, H)
    ((out * _t(v["wo"], backend, False)).sum() + (h_n * _t(v["wh"], backend, False)).sum()).backward()
    assert_close(out, GRU_BI_STATE["out"])
    assert_close(h_n, GRU_BI_STATE["hn"])
    assert_close(x.grad, GRU_BI_STATE["gx"])
    assert_close(h0.grad, GRU_BI_STATE["gh0"])
    _check_grads(m, GRU_BI_STATE)


def test_gru_known_values_zero_state_time_major_match_torch(backend):
    m = _filled("GRU", False, backend, batch_first=False)
    v = _inputs(1)
    x = _t(v["x"].transpose(1, 0, 2).copy(), backend)
    out, h_n = m(x)
    assert out.shape == (T, N, H)
    ((out * _t(v["wo"].transpose(1, 0, 2), backend, False)).sum()
     + (h_n * _t(v["wh"], backend, False)).sum()).backward()
    assert_close(out.transpose(1, 0, 2), GRU_ZERO["out"])
    assert_close(h_n, GRU_ZERO["hn"])
    assert_close(x.grad.numpy().transpose(1, 0, 2), GRU_ZERO["gx"])
    _check_grads(m, GRU_ZERO)


def test_lstm_bidirectional_known_values_with_initial_state_match_torch(backend):
    m = _filled("LSTM", True, backend)
    v = _inputs(2)
    x, h0, c0 = _t(v["x"], backend), _t(v["h0"], backend), _t(v["c0"], backend)
    out, (h_n, c_n) = m(x, (h0, c0))
    assert out.shape == (N, T, 2 * H) and h_n.shape == c_n.shape == (2 * L, N, H)
    ((out * _t(v["wo"], backend, False)).sum() + (h_n * _t(v["wh"], backend, False)).sum()
     + (c_n * _t(v["wc"], backend, False)).sum()).backward()
    assert_close(out, LSTM_BI_STATE["out"])
    assert_close(h_n, LSTM_BI_STATE["hn"])
    assert_close(c_n, LSTM_BI_STATE["cn"])
    assert_close(x.grad, LSTM_BI_STATE["gx"])
    assert_close(h0.grad, LSTM_BI_STATE["gh0"])
    assert_close(c0.grad, LSTM_BI_STATE["gc0"])
    _check_grads(m, LSTM_BI_STATE)


@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
def test_reverse_direction_is_a_forward_layer_on_the_reversed_sequence(kind):
    """Features [H:2H] of a one-layer bidirectional output are the reverse-direction layer
    run over x[:, ::-1], flipped back; h_n[1] is its state after reading step 0."""
    md.manual_seed(2)
    bi = getattr(nn, kind)(3, 4, bidirectional=True).astype("float64")
    uni = getattr(nn, kind)(3, 4).astype("float64")
    uni.load_state_dict({name: bi.state_dict()[name + "_reverse"] for name in uni.state_dict()})
    x = md.randn(2, 5, 3, dtype="float64")
    out, state = bi(x)
    out_r, state_r = uni(md.tensor(x.numpy()[:, ::-1].copy()))
    h_n, h_r = (state, state_r) if kind == "GRU" else (state[0], state_r[0])
    assert_close(out[..., 4:], out_r.numpy()[:, ::-1], rtol=1e-12)
    assert_close(h_n[1], h_r[0], rtol=1e-12)
    assert_close(out[:, -1, :4], h_n[0], rtol=1e-12)  # forward: its last step
    assert_close(out[:, 0, 4:], h_n[1], rtol=1e-12)   # reverse: its last step is time 0


# ---- GRU and bidirectional parameters, initialisation ---------------------------------

def test_gru_parameter_names_shapes_and_order():
    m = nn.GRU(5, 3, num_layers=2)
    assert [(n, p.shape) for n, p in m.named_parameters()] == [
        ("weight_ih_l0", (5, 9)), ("weight_hh_l0", (3, 9)), ("bias_ih_l0", (9,)), ("bias_hh_l0", (9,)),
        ("weight_ih_l1", (3, 9)), ("weight_hh_l1", (3, 9)), ("bias_ih_l1", (9,)), ("bias_hh_l1", (9,)),
    ]
    assert all(p.dtype == np.float32 and p.requires_grad for p in m.parameters())
    assert list(m.state_dict()) == [n for n, _ in m.named_parameters()]


def test_bidirectional_parameter_names_shapes_and_order_as_pytorch():
    gru = nn.GRU(5, 3, num_layers=2, bidirectional=True)
    names = [f"{w}_l{k}{s}" for k in range(2) for s in ("", "_reverse")
             for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    assert [n for n, _ in gru.named_parameters()] == names
    assert gru.weight_ih_l1.shape == gru.weight_ih_l1_reverse.shape == (6, 9)  # fed 2H features
    lstm = nn.LSTM(5, 3, num_layers=2, bidirectional=True)
    assert [(n, p.shape) for n, p in lstm.named_parameters()][3:9] == [
        ("weight_ih_l0_reverse", (5, 12)), ("weight_hh_l0_reverse", (3, 12)), ("bias_l0_reverse", (12,)),
        ("weight_ih_l1", (6, 12)), ("weight_hh_l1", (3, 12)), ("bias_l1", (12,))]
    assert lstm.bias_l1_reverse.numpy()[3:6].tolist() == [1.0, 1.0, 1.0]  # unit forget bias too


def test_gru_default_initialisation_is_pytorchs_uniform_for_weights_and_biases():
    md.manual_seed(0)
    h = 32
    m = nn.GRU(8, h, num_layers=2, bidirectional=True)
    bound = 1 / np.sqrt(h)
    for name, p in m.named_parameters():
        w = p.numpy()
        assert np.abs(w).max() <= bound, name
        assert w.std() == pytest.approx(bound / np.sqrt(3), rel=0.2), name  # U(-b, b)
    assert not np.array_equal(m.bias_ih_l0.numpy(), m.bias_hh_l0.numpy())  # two draws
    md.manual_seed(0)
    again = nn.GRU(8, h, num_layers=2, bidirectional=True).state_dict()
    assert all(np.array_equal(again[k], v) for k, v in m.state_dict().items())


def test_lstm_bidirectional_is_keyword_only():
    with pytest.raises(TypeError):
        nn.LSTM(3, 4, 1, True, True)
    assert nn.GRU(3, 4, 1, True, True).bidirectional  # API.md's positional order


def test_gru_repr():
    assert repr(nn.GRU(4, 8, num_layers=2, batch_first=False)) == \
        "GRU(4, 8, num_layers=2, batch_first=False)"
    assert repr(nn.LSTM(4, 8, bidirectional=True)) == \
        "LSTM(4, 8, num_layers=1, batch_first=True, bidirectional=True)"


# ---- GRU and bidirectional shapes, gradients, edge cases ------------------------------

@pytest.mark.parametrize("bidirectional", [False, True])
def test_gru_output_shapes_and_last_step_equals_h_n(backend, bidirectional):
    md.set_backend(backend)
    m = nn.GRU(3, 4, num_layers=2, bidirectional=bidirectional)
    d = 2 if bidirectional else 1
    out, h_n = m(md.randn(5, 7, 3))
    assert out.shape == (5, 7, d * 4) and h_n.shape == (2 * d, 5, 4)
    assert out.dtype == h_n.dtype == np.float32
    assert_close(out[:, -1, :4], h_n[d], rtol=1e-6)  # layer 1, forward direction


def test_gru_long_sequence_backward():
    m = nn.GRU(2, 3, bidirectional=True).astype("float64")
    x = md.randn(1, 1000, 2, dtype="float64", requires_grad=True)
    out, h_n = m(x)
    (out.sum() + h_n.sum()).backward()
    assert np.isfinite(x.grad.numpy()).all() and np.abs(x.grad.numpy()[0, 0]).sum() > 0
    assert m.weight_hh_l0_reverse.grad.shape == (3, 9)


@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
def test_zero_length_batch_as_pytorch(kind):
    """N = 0: empty outputs of the right shapes, and zero parameter gradients (PyTorch's)."""
    m = getattr(nn, kind)(3, 2, num_layers=2, bidirectional=True)
    x = md.zeros(0, 4, 3, requires_grad=True)
    out, state = m(x)
    h_n = state if kind == "GRU" else state[0]
    assert out.shape == (0, 4, 4) and h_n.shape == (4, 0, 2)
    (out.sum() + h_n.sum()).backward()
    assert x.grad.shape == (0, 4, 3)
    for p in m.parameters():
        assert p.grad is not None and p.grad.shape == p.shape and not p.grad.numpy().any()


@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
def test_nan_propagates_along_each_direction(kind):
    """A NaN at step 2 of sample 0 reaches that sample's forward outputs from step 2 on and
    its reverse outputs up to step 2; the other sample stays finite."""
    md.manual_seed(0)
    m = getattr(nn, kind)(2, 3, bidirectional=True)
    x = np.zeros((2, 5, 2), dtype=np.float32)
    x[0, 2, 1] = np.nan
    out = m(md.tensor(x))[0].numpy()
    fwd, rev = np.isnan(out[0, :, :3]).all(axis=1), np.isnan(out[0, :, 3:]).all(axis=1)
    assert fwd.tolist() == [False, False, True, True, True]
    assert rev.tolist() == [True, True, True, False, False]
    assert np.isfinite(out[1]).all()


def test_gru_input_dtype_rule():
    m = nn.GRU(3, 2)
    out, h_n = m(md.randn(2, 4, 3, dtype="float64"))
    assert out.dtype == h_n.dtype == np.float32
    out64, _ = m.astype("float64")(md.randn(2, 4, 3, dtype="float32"))
    assert out64.dtype == np.float64
    with pytest.raises(TypeError, match="GRU: expected floating-point input, got dtype int64"):
        m(md.tensor(np.zeros((1, 2, 3), dtype=np.int64)))
    with pytest.raises(TypeError, match=r"GRU \(h_0\): expected floating-point input"):
        m(md.zeros(1, 2, 3, dtype="float64"), md.tensor(np.zeros((1, 1, 2), dtype=np.int32)))


def test_gru_bad_input_and_h0_name_layer_and_shapes():
    m = nn.GRU(3, 4, num_layers=2, bidirectional=True)
    with pytest.raises(ValueError, match=r"GRU: expected input of shape \(N, T, input_size\) "
                                         r"with input_size=3.*got \(2, 5, 4\)"):
        m(md.zeros(2, 5, 4))
    with pytest.raises(ValueError, match="GRU: the sequence is empty"):
        m(md.zeros(2, 0, 3))
    with pytest.raises(ValueError, match=r"GRU: expected h_0 of shape \(num_layers \* 2, N, hidden_size\)"
                                         r" = \(4, 5, 4\), got \(2, 5, 4\)"):
        m(md.zeros(5, 6, 3), md.zeros(2, 5, 4))
    with pytest.raises(ValueError, match="LSTM: expected c_0 .* = \\(2, 5, 4\\)"):
        nn.LSTM(3, 4, bidirectional=True)(md.zeros(5, 6, 3), (md.zeros(2, 5, 4), md.zeros(1, 5, 4)))
