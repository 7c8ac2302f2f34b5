"""The fused LSTM cell: one graph node per time step for all the gate math.

Shapes: N batch, H hidden size; z (N, 4H) pre-activations in gate order i, f, g, o.
"""
from __future__ import annotations

from typing import Any

from minidl.autograd.function import Function
from minidl.backend.cpu.recurrent import lstm_cell_backward, lstm_cell_forward


class LSTMCell(Function):
    """(z, c) -> (h_new, c_new): i, f, g, o, c' and h' in one element-wise op.

    Saves the activated gates, c and c_new (c is the previous step's c_new, so a
    sequence keeps one cell state per step, not two).
    """

    def forward(self, z: Any, c: Any) -> tuple[Any, Any]:
        if z.ndim != 2 or c.ndim != 2 or z.shape != (c.shape[0], 4 * c.shape[1]):
            raise ValueError(f"LSTMCell: expected z (N, 4H) and c (N, H), got z {z.shape} "
                             f"and c {c.shape}")
        h_new, c_new, gates = lstm_cell_forward(z, c)
        if any(self.needs_input_grad):
            self.gates, self.c, self.c_new = gates, c, c_new
        return h_new, c_new

    def backward(self, gh: Any, gc: Any) -> tuple[Any, Any]:
        dz, dc = lstm_cell_backward(gh, gc, self.gates, self.c, self.c_new)
        return dz, (dc if self.needs_input_grad[1] else None)


def lstm_cell(z: Any, c: Any) -> tuple[Any, Any]:
    """One LSTM step from pre-activations z (N, 4H) and cell state c (N, H).

    Returns (h_new, c_new), each (N, H): i, f, o = sigmoid, g = tanh of the four
    quarters of z; c_new = f*c + i*g; h_new = o*tanh(c_new).
    """
    return LSTMCell()(z, c)
