"""no_grad, enable_grad and is_grad_enabled."""
from __future__ import annotations

import threading

import pytest

import minidl as md
import minidl.functional as F


def test_no_grad_records_nothing(backend):
    x = md.tensor([1.0, 2.0], requires_grad=True, device=backend)
    assert md.is_grad_enabled()
    with md.no_grad():
        assert not md.is_grad_enabled()
        outs = [x * 2, x + x, x @ x, x.sum(), x[0], F.softmax(x), md.stack([x, x]), x.exp()]
    assert md.is_grad_enabled()
    for y in outs:
        assert not y.requires_grad and y.creator is None
    with pytest.raises(RuntimeError):
        outs[3].backward()


def test_no_grad_restores_state_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with md.no_grad():
            1 / 0
    assert md.is_grad_enabled()


def test_nested_no_grad_and_enable_grad(backend):
    x = md.tensor([1.0], requires_grad=True, device=backend)
    with md.no_grad():
        with md.no_grad():
            assert not md.is_grad_enabled()
        assert not md.is_grad_enabled()
        with md.enable_grad():
            assert md.is_grad_enabled()
            y = x * 2
        assert not md.is_grad_enabled()
    assert y.requires_grad
    y.backward()
    assert x.grad.item() == 2.0


def test_graph_built_before_no_grad_still_backpropagates(backend):
    x = md.tensor([3.0], requires_grad=True, device=backend)
    y = x * x
    with md.no_grad():
        z = y * 10  # not recorded
        y.backward()  # backward itself works inside no_grad
    assert not z.requires_grad
    assert x.grad.item() == 6.0


def test_grad_mode_is_per_thread():
    seen = []
    with md.no_grad():
        t = threading.Thread(target=lambda: seen.append(md.is_grad_enabled()))
        t.start()
        t.join()
    assert seen == [True]
