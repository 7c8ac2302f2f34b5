"""nn.LSTM: shapes, parameters, initialisation, gradients, PyTorch's numbers, errors."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md
import minidl.functional as F
from minidl import nn, optim
from tests.helpers import assert_close

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

def _bind(m: nn.LSTM, names: list[str], tensors: tuple[md.Tensor, ...]) -> None:
    """Point the module's parameters at gradcheck's perturbed copies."""
    for name, t in zip(names, tensors):
        object.__setattr__(m, name, t)


@settings(max_examples=8)
@given(n=st.integers(1, 2), t=st.integers(1, 3), in_size=st.integers(1, 3), h=st.integers(1, 3),
       layers=st.integers(1, 3), batch_first=st.booleans(), with_state=st.booleans(),
       seed=st.integers(0, 2**16))
def test_lstm_gradcheck(backend, n, t, in_size, h, layers, batch_first, with_state, seed):
    md.set_backend(backend)
    md.manual_seed(seed)
    m = nn.LSTM(in_size, h, num_layers=layers, batch_first=batch_first).astype("float64")
    rng = np.random.default_rng(seed)
    # random biases too (the default is 0/1), so every gate works away from its init point
    for p in m.parameters():
        p.data[...] = md.tensor(rng.uniform(-1, 1, p.shape), dtype="float64", device=backend).data
    names = [name for name, _ in m.named_parameters()]
    shape = (n, t, in_size) if batch_first else (t, n, in_size)
    x = _t(rng.uniform(-1, 1, shape), backend)
    h0 = _t(rng.uniform(-1, 1, (layers, n, h)), backend)
    c0 = _t(rng.uniform(-1, 1, (layers, n, h)), backend)

    def fn(x, h0, c0, *params):
        _bind(m, names, params)
        out, (h_n, c_n) = m(x, (h0, c0) if with_state else None)
        return out, h_n, c_n

    inputs = (x, h0, c0) if with_state else (x, h0.detach(), c0.detach())
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


@pytest.mark.parametrize("args", [(0, 4), (3, 0), (3, 4, 0), (3.0, 4), (3, True)])
def test_bad_constructor_arguments(args):
    with pytest.raises(ValueError, match="LSTM: .* must be a positive integer"):
        nn.LSTM(*args)


# ---- learning -------------------------------------------------------------------------

class _RunningSign(nn.Module):
    """LSTM + a Dense head giving one logit per step."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, 16)
        self.head = nn.Dense(16, 1)

    def forward(self, x: md.Tensor) -> md.Tensor:
        return self.head(self.lstm(x)[0])


def test_lstm_learns_the_sign_of_a_running_sum():
    md.manual_seed(0)
    rng = np.random.default_rng(0)

    def batch(n: int) -> tuple[md.Tensor, np.ndarray]:
        x = rng.uniform(-1, 1, (n, 15, 1)).astype(np.float32)
        return md.tensor(x), np.cumsum(x, axis=1) > 0  # target at every step

    model = _RunningSign()
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
