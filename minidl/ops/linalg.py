"""Matrix product with NumPy's rules (1-D promotion, batch broadcasting)."""
from __future__ import annotations

from typing import Any

from minidl.autograd.function import Function, sum_to


def _swap(a: Any) -> Any:
    return a.swapaxes(-1, -2)


class MatMul(Function):
    def forward(self, a: Any, b: Any) -> Any:
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError("MatMul: both operands need at least one dimension, "
                             f"got shapes {a.shape} and {b.shape}")
        ka = a.shape[-1]
        kb = b.shape[-2] if b.ndim > 1 else b.shape[0]
        if ka != kb:
            raise ValueError(f"MatMul: inner dimensions differ: {a.shape} @ {b.shape} "
                             f"({ka} != {kb})")
        self.a = a if self.needs_input_grad[1] else None
        self.b = b if self.needs_input_grad[0] else None
        self.a_shape, self.b_shape = a.shape, b.shape
        return a @ b

    def backward(self, gy: Any) -> tuple[Any, Any]:
        a1, b1 = len(self.a_shape) == 1, len(self.b_shape) == 1
        # promote 1-D operands the way matmul did, so both products are plain batched ones;
        # b's axis first: for vector @ vector gy is 0-d and gains (1,) then (1, 1)
        if b1:
            gy = gy[..., None]
        if a1:
            gy = gy[..., None, :]
        ga = gb = None
        if self.needs_input_grad[0]:
            b = self.b[:, None] if b1 else self.b
            ga = gy @ _swap(b)
            ga = sum_to(ga, (1,) + self.a_shape if a1 else self.a_shape).reshape(self.a_shape)
        if self.needs_input_grad[1]:
            a = self.a[None, :] if a1 else self.a
            gb = _swap(a) @ gy
            gb = sum_to(gb, self.b_shape + (1,) if b1 else self.b_shape).reshape(self.b_shape)
        return ga, gb


def matmul(a: Any, b: Any) -> Any:
    """a @ b with gradients; 1-D operands and batch dimensions follow NumPy."""
    return MatMul()(a, b)

