"""nn.LSTM: a stacked LSTM, each layer one fused sequence op (ops.recurrent.lstm_layer).

Shapes: N batch, T time steps, H hidden size, L num_layers.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from minidl import backend as B
from minidl.autograd.tensor import Tensor
from minidl.nn import init
from minidl.nn.module import Module, Parameter, floating_input
from minidl.ops.linear import linear
from minidl.ops.recurrent import lstm_layer
from minidl.ops.shape import stack, unbind

State = tuple[Tensor, Tensor]


class LSTM(Module):
    """A stack of `num_layers` LSTM layers, each feeding its outputs to the next.

    forward(x, state=None) -> (output, (h_n, c_n)) with x (N, T, input_size) when
    batch_first else (T, N, input_size); output (N, T, H) (or (T, N, H)), the last
    layer's hidden state at every step; h_n, c_n (L, N, H) every layer's state after
    the last step. `state` is an optional (h_0, c_0) of shape (L, N, H); zeros when
    omitted.

    Parameters of layer k, in this order: weight_ih_l{k} (in_k, 4H) with in_0 =
    input_size and in_k = H above; weight_hh_l{k} (H, 4H); bias_l{k} (4H,). Gate
    order i, f, g, o: z = x_t @ W_ih + h @ W_hh + b; i, f, o = sigmoid, g = tanh;
    c' = f*c + i*g; h' = o*tanh(c'). These are PyTorch's weights transposed, and
    PyTorch's bias_ih + bias_hh summed into one bias.

    Initialisation: weights U(-1/sqrt(H), 1/sqrt(H)) as PyTorch's; the bias is zero
    except the forget-gate slice [H:2H], which is 1 (Keras' unit_forget_bias), so
    the cell starts out remembering and gradients flow through long sequences.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 batch_first: bool = True) -> None:
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size),
                            ("num_layers", num_layers)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"LSTM: {name} must be a positive integer, got {value!r}")
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.num_layers, self.batch_first = int(num_layers), bool(batch_first)
        H = self.hidden_size
        xp = B.module_for(B.get_backend())
        bound = 1.0 / math.sqrt(H)
        for k in range(self.num_layers):
            in_k = self.input_size if k == 0 else H
            for name, rows in ((f"weight_ih_l{k}", in_k), (f"weight_hh_l{k}", H)):
                w = Parameter(xp.empty((rows, 4 * H), dtype=np.float32))
                w.fan_layout = "in_out"  # stored (in, out): PyTorch's layout transposed
                setattr(self, name, init.uniform_(w, -bound, bound))
            bias = xp.zeros(4 * H, dtype=np.float32)
            bias[H: 2 * H] = 1.0
            setattr(self, f"bias_l{k}", Parameter(bias))

    def forward(self, x: Any, state: State | None = None) -> tuple[Tensor, State]:
        x = floating_input("LSTM", x, self.weight_ih_l0.dtype)
        self._check_input(x)
        if self.batch_first:  # time-major inside: every step's rows are contiguous
            x = x.transpose(1, 0, 2)
        h0s, c0s = self._initial_state(state, x.shape[1])
        out, h_n, c_n = x, [], []
        for k in range(self.num_layers):
            out, h, c = self._layer(k, out, h0s[k], c0s[k])
            h_n.append(h)
            c_n.append(c)
        if self.batch_first:
            out = out.transpose(1, 0, 2)
        return out, (stack(h_n, axis=0), stack(c_n, axis=0))

    def _layer(self, k: int, x: Tensor, h: Tensor | None,
               c: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """Run layer k over the time-major sequence x (T, N, in); returns (outputs, h_T, c_T)."""
        w_ih, w_hh, b = (getattr(self, f"{p}_l{k}") for p in ("weight_ih", "weight_hh", "bias"))
        H = self.hidden_size
        # the input-to-gates product for every step at once, then the whole recurrence
        # as one op (per-step graph nodes cost more than the step's arithmetic)
        xz = linear(x.reshape(-1, x.shape[-1]), w_ih, b).reshape(x.shape[:2] + (4 * H,))
        return lstm_layer(xz, w_hh, h, c, time_axis=0)

    def _check_input(self, x: Tensor) -> None:
        layout = "(N, T, input_size)" if self.batch_first else "(T, N, input_size)"
        if x.ndim != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"LSTM: expected input of shape {layout} with input_size="
                             f"{self.input_size} (batch_first={self.batch_first}), got {x.shape}")
        if x.shape[1 if self.batch_first else 0] == 0:
            raise ValueError(f"LSTM: the sequence is empty (T = 0) in input of shape {x.shape}")

    def _initial_state(self, state: Any, n: int) -> tuple[list[Any], list[Any]]:
        """Per-layer (h_0, c_0) lists; None entries mean zeros."""
        L = self.num_layers
        if state is None:
            return [None] * L, [None] * L
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise ValueError(f"LSTM: state must be a pair (h_0, c_0), got {type(state).__name__}"
                             + (f" of length {len(state)}" if isinstance(state, (tuple, list)) else ""))
        expected = (L, n, self.hidden_size)
        parts = []
        for name, s in zip(("h_0", "c_0"), state):
            s = floating_input(f"LSTM ({name})", s, self.weight_ih_l0.dtype)
            if tuple(s.shape) != expected:
                raise ValueError(f"LSTM: expected {name} of shape (num_layers, N, hidden_size) = "
                                 f"{expected}, got {tuple(s.shape)}")
            parts.append(list(unbind(s, axis=0)))
        return parts[0], parts[1]

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
                f"batch_first={self.batch_first}")
