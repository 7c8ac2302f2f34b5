"""nn.Embedding: parameter, initialisation, lookup and gradient."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md
from minidl import nn
from tests.helpers import assert_close


def test_parameter_and_default_init():
    md.manual_seed(0)
    e = nn.Embedding(400, 50)
    assert [(n, p.shape) for n, p in e.named_parameters()] == [("weight", (400, 50))]
    w = e.weight.numpy()
    assert w.dtype == np.float32
    # N(0, 1) as PyTorch's, over 20,000 samples
    assert abs(w.mean()) < 0.03 and w.std() == pytest.approx(1.0, abs=0.03)


def test_init_is_seeded():
    md.manual_seed(5)
    a = nn.Embedding(3, 2).weight.numpy()
    md.manual_seed(5)
    np.testing.assert_array_equal(a, nn.Embedding(3, 2).weight.numpy())


def test_forward_picks_rows_and_gradient_scatter_adds(backend):
    md.set_backend(backend)
    e = nn.Embedding(5, 3)
    ids = md.tensor([[4, 0, 4]], device=backend)
    out = e(ids)
    assert out.shape == (1, 3, 3)
    assert_close(out, e.weight.numpy()[[[4, 0, 4]]])
    out.sum().backward()
    assert_close(e.weight.grad, [[1, 1, 1], [0, 0, 0], [0, 0, 0], [0, 0, 0], [2, 2, 2]])


@settings(max_examples=6)
@given(num=st.integers(1, 4), dim=st.integers(1, 3), n=st.integers(1, 4), seed=st.integers(0, 99))
def test_module_gradcheck(backend, num, dim, n, seed):
    md.set_backend(backend)
    e = nn.Embedding(num, dim).astype("float64")
    ids = md.tensor(np.random.default_rng(seed).integers(0, num, size=(n,)), device=backend)
    assert md.gradcheck(lambda w: md.functional.embedding(ids, w), e.weight)


def test_out_of_range_id_error():
    with pytest.raises(ValueError, match=r"Embedding: ids must lie in \[0, 3\)"):
        nn.Embedding(3, 2)(md.tensor([3]))


@pytest.mark.parametrize("args", [(0, 2), (3, 0), (2.5, 2), (3, True)])
def test_bad_constructor_arguments(args):
    with pytest.raises(ValueError, match="Embedding: .* must be a positive integer"):
        nn.Embedding(*args)


def test_repr():
    assert repr(nn.Embedding(10, 4)) == "Embedding(10, 4)"


def _with_weight(e, w):
    """e's forward with `w` (a gradcheck input) in place of its weight."""
    object.__setattr__(e, "weight", w)
    return e


def test_padding_idx_row_starts_at_zero_and_gets_no_gradient(backend):
    md.set_backend(backend)
    e = nn.Embedding(5, 3, padding_idx=-2)
    assert e.padding_idx == 3 and repr(e) == "Embedding(5, 3, padding_idx=3)"
    assert not np.any(e.weight.numpy()[3]) and np.all(e.weight.numpy()[[0, 1, 2, 4]] != 0)
    with md.no_grad():
        e.weight.data[...] = md.tensor(np.arange(15.0).reshape(5, 3) / 10, device=backend).data
    ids = md.tensor([[3, 1, 3], [0, 3, 2]], device=backend)
    out = e(ids)
    (out * md.tensor(np.arange(18.0).reshape(2, 3, 3) / 7, dtype="float32", device=backend)).sum().backward()
    # torch 2.13: nn.Embedding(5, 3, padding_idx=-2) with these weights, ids and loss weights
    assert_close(out, [[[0.9, 1.0, 1.1], [0.3, 0.4, 0.5], [0.9, 1.0, 1.1]],
                       [[0.0, 0.1, 0.2], [0.9, 1.0, 1.1], [0.6, 0.7, 0.8]]], rtol=1e-6)
    assert_close(e.weight.grad, [[1.2857142686843872, 1.4285714626312256, 1.5714285373687744],
                                 [0.4285714328289032, 0.5714285969734192, 0.7142857313156128],
                                 [2.142857074737549, 2.2857143878936768, 2.4285714626312256],
                                 [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], rtol=1e-6)


@settings(max_examples=6)
@given(num=st.integers(2, 5), dim=st.integers(1, 3), n=st.integers(1, 5), seed=st.integers(0, 99))
def test_padding_idx_gradcheck(backend, num, dim, n, seed):
    md.set_backend(backend)
    rng = np.random.default_rng(seed)
    pad = int(rng.integers(-num, num))
    e = nn.Embedding(num, dim, padding_idx=pad).double()
    ids = md.tensor(rng.integers(0, num, size=(n, 2)), device=backend)
    row = e.padding_idx
    others = md.tensor(np.delete(e.weight.numpy(), row, axis=0), device=backend, requires_grad=True)
    pad_row = md.tensor(e.weight.numpy()[row:row + 1], device=backend)

    def lookup(w_others):
        # the padding row by design has no gradient (PyTorch's rule): check every other row
        w = md.concatenate([w_others[:row], pad_row, w_others[row:]], axis=0)
        return _with_weight(e, w)(ids)

    assert md.gradcheck(lookup, others)


@pytest.mark.parametrize("pad", [5, -6, 1.0, True, "0"])
def test_bad_padding_idx(pad):
    with pytest.raises(ValueError, match=r"Embedding: padding_idx must be an integer in \[-5, 5\)"):
        nn.Embedding(5, 2, padding_idx=pad)


def test_padding_idx_row_stays_put_under_training():
    e = nn.Embedding(4, 2, padding_idx=0)
    opt = md.optim.Adam(e.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        (e(md.tensor([[0, 1, 0, 2]])) ** 2).sum().backward()
        opt.step()
    np.testing.assert_array_equal(e.weight.numpy()[0], [0, 0])
