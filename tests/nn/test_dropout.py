"""nn.Dropout: inverted dropout while training, the identity in eval mode."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from minidl import nn
from tests.helpers import assert_close, rand_tensor
from tests.strategies import shapes


@given(shape=shapes(1, 3), p=st.sampled_from([0.2, 0.5]))
def test_gradcheck_fixed_mask(backend, shape, p):
    layer = nn.Dropout(p)

    def f(x):
        md.manual_seed(11)  # the same mask for every finite-difference evaluation
        return layer(x)
    assert md.gradcheck(f, rand_tensor(shape, backend))


def test_training_statistics(backend):
    md.manual_seed(2)
    layer = nn.Dropout(0.5)
    out = layer(md.ones(100_000, device=backend)).numpy()
    assert set(np.unique(out)) == {0.0, 2.0}
    assert abs(out.mean() - 1.0) < 0.02
    assert abs((out == 0).mean() - 0.5) < 0.01


def test_eval_is_identity_and_train_turns_it_back_on(backend):
    model = nn.Sequential(nn.Dense(4, 4), nn.Dropout(0.9)).to(backend)
    x = rand_tensor((8, 4), backend, requires_grad=False).astype("float32")
    model.eval()
    assert model[1].training is False
    assert_close(model(x), model[0](x))
    model.train()
    assert model[1].training is True
    md.manual_seed(0)
    assert (model(x).numpy() == 0).mean() > 0.5


def test_default_p_and_repr():
    assert nn.Dropout().p == 0.5
    assert repr(nn.Dropout(0.25)) == "Dropout(p=0.25)"


@pytest.mark.parametrize("p", [-0.5, 1.01, "x"])
def test_bad_p(p):
    with pytest.raises(ValueError, match=r"Dropout: p must be a probability in \[0, 1\]"):
        nn.Dropout(p)
