"""minidl: a small deep learning library on NumPy (CPU) and CuPy (GPU).

The public surface of ../shared/API.md, re-exported.
"""
from minidl.errors import BackendUnavailableError, DeviceMismatchError, GradcheckError
from minidl.backend import cuda_available, get_backend, set_backend
from minidl.backend.random import manual_seed
from minidl.autograd import Function, Tensor, enable_grad, gradcheck, is_grad_enabled, no_grad
from minidl.autograd.tensor import (
    arange, eye, float32, float64, from_numpy, full, int64, ones, ones_like, rand, randn, tensor,
    zeros, zeros_like,
)
from minidl.ops.math import where
from minidl.ops.shape import cat, concatenate, stack
from minidl import functional
from minidl import data, datasets
from minidl import nn
from minidl import optim
from minidl.optim.clip import clip_grad_norm_
from minidl.serialization import load, save

__version__ = "0.1.0"

# PyTorch's dtype names (`dtype=md.long` for labels, `md.float`); left out of __all__ so a
# star import never shadows the builtins float
float = float32  # noqa: A001
double = float64
long = int64

__all__ = [
    "BackendUnavailableError", "DeviceMismatchError", "GradcheckError",
    "cuda_available", "get_backend", "set_backend", "manual_seed",
    "Function", "Tensor", "enable_grad", "gradcheck", "is_grad_enabled", "no_grad",
    "arange", "float32", "float64", "int64", "ones", "ones_like", "rand", "randn", "tensor",
    "zeros", "zeros_like", "full", "eye", "from_numpy", "where", "concatenate", "cat", "stack",
    "functional",
    "data", "datasets",
    "optim", "clip_grad_norm_", "save", "load", "nn",
]
