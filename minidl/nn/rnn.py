"""nn.LSTM and nn.GRU: stacked recurrent layers, each layer and direction one fused sequence
op (ops.recurrent.lstm_layer, gru_layer).

Shapes: N batch, T time steps, H hidden size, L num_layers, D directions (2 when
bidirectional, else 1).
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
from minidl.ops.recurrent import gru_layer, lstm_layer
from minidl.ops.shape import concatenate, stack, unbind

State = tuple[Tensor, Tensor]


class _Recurrent(Module):
    """What LSTM and GRU share: arguments, parameter names, the stack of layers and
    directions, the input and initial-state checks.

    Subclasses set `GATES` (gate blocks per unit) and `STATES` (names of the carried
    states), and define `_new_parameters(suffix, in_k)` -> [(name, Parameter)] in
    registration order and `_run(k, suffix, x, initial, reverse)` -> (out, finals)."""

    GATES: int
    STATES: tuple[str, ...]

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, batch_first: bool,
                 bidirectional: bool) -> None:
        super().__init__()
        name = type(self).__name__
        for arg, value in (("input_size", input_size), ("hidden_size", hidden_size),
                           ("num_layers", num_layers)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: {arg} must be a positive integer, got {value!r}")
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.num_layers, self.batch_first = int(num_layers), bool(batch_first)
        self.bidirectional = bool(bidirectional)
        directions = 2 if self.bidirectional else 1
        for k in range(self.num_layers):
            in_k = self.input_size if k == 0 else directions * self.hidden_size
            for suffix in self._suffixes(k):
                for p_name, p in self._new_parameters(in_k):
                    setattr(self, f"{p_name}{suffix}", p)

    def _suffixes(self, k: int) -> tuple[str, ...]:
        """The parameter-name suffixes of layer k, forward direction first (PyTorch's order)."""
        return (f"_l{k}", f"_l{k}_reverse") if self.bidirectional else (f"_l{k}",)

    def _uniform(self, *shape: int) -> Parameter:
        """A float32 Parameter drawn from U(-1/sqrt(H), 1/sqrt(H)), PyTorch's RNN init."""
        xp = B.module_for(B.get_backend())
        p = Parameter(xp.empty(shape, dtype=np.float32))
        if len(shape) == 2:
            p.fan_layout = "in_out"  # stored (in, out): PyTorch's layout transposed
        bound = 1.0 / math.sqrt(self.hidden_size)
        return init.uniform_(p, -bound, bound)

    def _new_parameters(self, in_k: int) -> list[tuple[str, Parameter]]:
        raise NotImplementedError

    def _run(self, suffix: str, x: Tensor, initial: tuple[Any, ...],
             reverse: bool) -> tuple[Tensor, tuple[Tensor, ...]]:
        raise NotImplementedError

    def _input_gates(self, suffix: str, x: Tensor, bias: str | None) -> Tensor:
        """x @ W_ih (+ b when `bias` names it) for every step at once: (T, N, in) ->
        (T, N, GATES * H) (one product for the whole sequence; only h @ W_hh has to wait
        for the previous step)."""
        w_ih = getattr(self, f"weight_ih{suffix}")
        b = None if bias is None else getattr(self, f"{bias}{suffix}")
        return linear(x.reshape(-1, x.shape[-1]), w_ih, b).reshape(
            x.shape[:2] + (self.GATES * self.hidden_size,))

    def _forward(self, x: Any, initial: Any) -> tuple[Tensor, list[Tensor]]:
        """Run the stack on x; `initial` as the user gave it. Returns (output, [h_n, ...])."""
        name = type(self).__name__
        x = floating_input(name, x, self.weight_ih_l0.dtype)
        self._check_input(x)
        if self.batch_first:  # time-major inside: every step's rows are contiguous
            x = x.transpose(1, 0, 2)
        starts = self._initial_states(initial, x.shape[1])
        finals: list[tuple[Tensor, ...]] = []
        for k in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(self._suffixes(k)):
                j = len(finals)
                out, final = self._run(suffix, x, tuple(s[j] for s in starts), reverse=d == 1)
                outs.append(out)
                finals.append(final)
            x = outs[0] if len(outs) == 1 else concatenate(outs, axis=-1)
        if self.batch_first:
            x = x.transpose(1, 0, 2)
        return x, [stack([f[i] for f in finals], axis=0) for i in range(len(self.STATES))]

    def _check_input(self, x: Tensor) -> None:
        name = type(self).__name__
        layout = "(N, T, input_size)" if self.batch_first else "(T, N, input_size)"
        if x.ndim != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: expected input of shape {layout} with input_size="
                             f"{self.input_size} (batch_first={self.batch_first}), got {x.shape}")
        if x.shape[1 if self.batch_first else 0] == 0:
            raise ValueError(f"{name}: the sequence is empty (T = 0) in input of shape {x.shape}")

    def _initial_states(self, given: tuple[Any, ...] | None, n: int) -> list[list[Any]]:
        """One list per carried state, of L * D entries (layer k, direction d at k * D + d),
        from (L * D, N, H) arrays; None entries mean zeros."""
        name = type(self).__name__
        count = self.num_layers * (2 if self.bidirectional else 1)
        if given is None:
            return [[None] * count for _ in self.STATES]
        expected = (count, n, self.hidden_size)
        parts = []
        for s_name, s in zip(self.STATES, given):
            s = floating_input(f"{name} ({s_name})", s, self.weight_ih_l0.dtype)
            if tuple(s.shape) != expected:
                axis0 = "num_layers * 2" if self.bidirectional else "num_layers"
                raise ValueError(f"{name}: expected {s_name} of shape ({axis0}, N, hidden_size) = "
                                 f"{expected}, got {tuple(s.shape)}")
            parts.append(list(unbind(s, axis=0)))
        return parts

    def extra_repr(self) -> str:
        text = (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
                f"batch_first={self.batch_first}")
        return text + (", bidirectional=True" if self.bidirectional else "")


class LSTM(_Recurrent):
    """A stack of `num_layers` LSTM layers, each feeding its outputs to the next.

    forward(x, state=None) -> (output, (h_n, c_n)) with x (N, T, input_size) when
    batch_first else (T, N, input_size); output (N, T, D*H) (or (T, N, D*H)), the last
    layer's hidden state at every step; h_n, c_n (L*D, N, H) every layer's and
    direction's state after its last step. `state` is an optional (h_0, c_0) of shape
    (L*D, N, H); zeros when omitted.

    Parameters of layer k, in this order: weight_ih_l{k} (in_k, 4H) with in_0 =
    input_size and in_k = D*H above; weight_hh_l{k} (H, 4H); bias_l{k} (4H,); then, when
    bidirectional, the same with the suffix `_reverse`. Gate order i, f, g, o:
    z = x_t @ W_ih + h @ W_hh + b; i, f, o = sigmoid, g = tanh; c' = f*c + i*g;
    h' = o*tanh(c'). These are PyTorch's weights transposed, and PyTorch's
    bias_ih + bias_hh summed into one bias.

    bidirectional: each layer also runs a second LSTM over the sequence from its last
    step to its first; its outputs are concatenated after the forward direction's
    (features [H:2H] of output), and h_n, c_n hold layer 0 forward, layer 0 reverse,
    layer 1 forward, ... as PyTorch's.

    Initialisation: weights U(-1/sqrt(H), 1/sqrt(H)) as PyTorch's; the bias is zero
    except the forget-gate slice [H:2H], which is 1 (Keras' unit_forget_bias), so
    the cell starts out remembering and gradients flow through long sequences.
    """

    GATES, STATES = 4, ("h_0", "c_0")

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 batch_first: bool = True, *, bidirectional: bool = False) -> None:
        super().__init__(input_size, hidden_size, num_layers, batch_first, bidirectional)

    def _new_parameters(self, in_k: int) -> list[tuple[str, Parameter]]:
        H = self.hidden_size
        w_ih, w_hh = self._uniform(in_k, 4 * H), self._uniform(H, 4 * H)
        xp = B.module_for(B.get_backend())
        bias = xp.zeros(4 * H, dtype=np.float32)
        bias[H: 2 * H] = 1.0
        return [("weight_ih", w_ih), ("weight_hh", w_hh), ("bias", Parameter(bias))]

    def forward(self, x: Any, state: State | None = None) -> tuple[Tensor, State]:
        if state is not None and (not isinstance(state, (tuple, list)) or len(state) != 2):
            raise ValueError(f"LSTM: state must be a pair (h_0, c_0), got {type(state).__name__}"
                             + (f" of length {len(state)}" if isinstance(state, (tuple, list)) else ""))
        out, (h_n, c_n) = self._forward(x, state)
        return out, (h_n, c_n)

    def _run(self, suffix: str, x: Tensor, initial: tuple[Any, ...],
             reverse: bool) -> tuple[Tensor, tuple[Tensor, ...]]:
        # the cells add the bias as they read xz, and write their gates over it
        xz = self._input_gates(suffix, x, None)
        out, h, c = lstm_layer(xz, getattr(self, f"weight_hh{suffix}"), *initial, time_axis=0,
                               reverse=reverse, bias=getattr(self, f"bias{suffix}"), overwrite_xz=True)
        return out, (h, c)


class GRU(_Recurrent):
    """A stack of `num_layers` GRU layers, each feeding its outputs to the next.

    forward(x, h0=None) -> (output, h_n) with x (N, T, input_size) when batch_first else
    (T, N, input_size); output (N, T, D*H) (or (T, N, D*H)), the last layer's hidden
    state at every step; h_n (L*D, N, H) every layer's and direction's state after its
    last step (layer 0 forward, layer 0 reverse, layer 1 forward, ... as PyTorch's).
    h0: optional (L*D, N, H); zeros when omitted.

    Parameters of layer k, in this order: weight_ih_l{k} (in_k, 3H) with in_0 =
    input_size and in_k = D*H above; weight_hh_l{k} (H, 3H); bias_ih_l{k} (3H,);
    bias_hh_l{k} (3H,); then, when bidirectional, the same with the suffix `_reverse`.
    PyTorch's weights transposed; the two biases stay apart, since b_hn sits inside
    r * (...). Gate order r, z, n: r, z = sigmoid(x_t W_i + b_i + h W_h + b_h);
    n = tanh(x_t W_in + b_in + r * (h W_hn + b_hn)); h' = (1 - z) * n + z * h.

    Initialisation: PyTorch's, every weight and both biases U(-1/sqrt(H), 1/sqrt(H))
    (a GRU has no forget gate to bias open).
    """

    GATES, STATES = 3, ("h_0",)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 batch_first: bool = True, bidirectional: bool = False) -> None:
        super().__init__(input_size, hidden_size, num_layers, batch_first, bidirectional)

    def _new_parameters(self, in_k: int) -> list[tuple[str, Parameter]]:
        G = 3 * self.hidden_size
        return [("weight_ih", self._uniform(in_k, G)), ("weight_hh", self._uniform(self.hidden_size, G)),
                ("bias_ih", self._uniform(G)), ("bias_hh", self._uniform(G))]

    def forward(self, x: Any, h0: Any = None) -> tuple[Tensor, Tensor]:
        out, (h_n,) = self._forward(x, None if h0 is None else (h0,))
        return out, h_n

    def _run(self, suffix: str, x: Tensor, initial: tuple[Any, ...],
             reverse: bool) -> tuple[Tensor, tuple[Tensor, ...]]:
        xg = self._input_gates(suffix, x, "bias_ih")
        out, h = gru_layer(xg, getattr(self, f"weight_hh{suffix}"), getattr(self, f"bias_hh{suffix}"),
                           *initial, time_axis=0, reverse=reverse)
        return out, (h,)
