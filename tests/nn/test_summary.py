"""model.summary() / nn.summary(): the Keras-like table."""
from __future__ import annotations

import numpy as np

import minidl as md
from minidl import nn
from minidl.backend.random import generator


def _table(model, *args, **kwargs) -> str:
    out: list[str] = []
    nn.summary(model, *args, print_fn=out.append, **kwargs)
    return out[0]


def _cnn():
    return nn.Sequential(nn.Conv2D(1, 4, 3), nn.ReLU(), nn.MaxPool2D(2), nn.Flatten(),
                         nn.Dense(4 * 3 * 3, 10), nn.Dropout(0.5), nn.Dense(10, 3))


def test_table_with_output_shapes():
    text = _table(_cnn(), (2, 1, 8, 8))
    assert text == "\n".join([  # noqa: FLY002 - one line per table row reads best
        'Model: "Sequential"',
        "Input shape: (2, 1, 8, 8)",
        "Layer (type)    Output Shape   Param #",
        "======================================",
        "0 (Conv2D)      (2, 4, 6, 6)        40",
        "1 (ReLU)        (2, 4, 6, 6)         0",
        "2 (MaxPool2D)   (2, 4, 3, 3)         0",
        "3 (Flatten)     (2, 36)              0",
        "4 (Dense)       (2, 10)            370",
        "5 (Dropout)     (2, 10)              0",
        "6 (Dense)       (2, 3)              33",
        "======================================",
        "Total params: 443 (1.73 KB)",
        "Trainable params: 443 (1.73 KB)",
        "Non-trainable params: 0",
    ])


def test_without_input_shape(capsys):
    model = nn.Sequential(nn.Dense(784, 128), nn.ReLU(), nn.Dense(128, 10))
    model.summary()
    text = capsys.readouterr().out
    assert "0 (Dense)      ?              100,480" in text
    assert "Total params: 101,770 (397.54 KB)" in text
    assert "pass input_shape" in text


def test_nested_rows_counts_and_non_trainable():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Dense(3, 4), nn.Tanh())
            self.head = nn.Dense(4, 2)
            self.head.bias.requires_grad = False

        def forward(self, x):
            return self.head(self.body(x))

    text = _table(Net(), (5, 3))
    assert "body (Sequential)   (5, 4)" in text
    assert "  body.0 (Dense)    (5, 4)" in text
    assert "head (Dense)        (5, 2)" in text
    assert "Total params: 26 " in text and "Trainable params: 24 " in text
    assert "Non-trainable params: 2" in text


def test_dummy_run_leaves_model_and_rng_alone():
    model = _cnn()
    model[5].train()
    model[0].eval()  # mixed modes are restored exactly
    md.manual_seed(0)
    state_before = generator(np).bit_generator.state
    _table(model, (1, 1, 8, 8))
    assert generator(np).bit_generator.state == state_before  # no dropout mask was drawn
    assert [m.training for m in model] == [False, True, True, True, True, True, True]
    assert all("forward" not in m.__dict__ for m in model.modules())
    assert all(p.grad is None for p in model.parameters())


def test_several_outputs_and_inputs():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Dense(2, 3)

        def forward(self, x, y):
            return self.a(x), y

    text = _table(Two(), [(4, 2), (4, 7)])
    assert "Input shape: [(4, 2), (4, 7)]" in text
    assert "a (Dense)" in text and "(4, 3)" in text
    lstm_text = _table(nn.LSTM(2, 3), (4, 5, 2))
    assert "[(4, 5, 3), [(1, 4, 3), (1, 4, 3)]]" in lstm_text


def test_method_delegates(capsys):
    model = nn.Sequential(nn.Dense(2, 2))
    model.summary((1, 2))
    assert capsys.readouterr().out.rstrip("\n") == _table(model, (1, 2))
