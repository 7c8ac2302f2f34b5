"""Tensor, the op base class, the backward walk, no_grad and gradcheck."""
from minidl.autograd.tensor import Tensor, tensor  # noqa: I001 - Tensor first, ops need it
from minidl.autograd.function import Function
from minidl.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad
from minidl.autograd.gradcheck import gradcheck

__all__ = ["Tensor", "tensor", "Function", "no_grad", "enable_grad", "is_grad_enabled", "gradcheck"]
