"""Public differentiable functions (`import minidl.functional as F`): thin wrappers over ops."""
from __future__ import annotations

from typing import Any

from minidl.ops import activation as _activation
from minidl.ops.activation import elu, gelu, leaky_relu, relu, sigmoid, silu, tanh
from minidl.ops.axes import LAST_AXIS, pick_axis
from minidl.ops.conv import conv2d
from minidl.ops.pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from minidl.ops.embedding import embedding
from minidl.ops.linear import linear
from minidl.ops.dropout import dropout
from minidl.ops.attention import scaled_dot_product_attention
from minidl.ops.norm import batch_norm, layer_norm
from minidl.ops.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)

__all__ = ["conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "relu", "sigmoid", "tanh", "softmax", "log_softmax", "leaky_relu",
           "gelu", "silu", "elu", "embedding", "linear", "dropout", "mse_loss", "cross_entropy",
           "binary_cross_entropy_with_logits", "binary_cross_entropy", "nll_loss", "l1_loss",
           "smooth_l1_loss", "huber_loss", "batch_norm", "layer_norm",
           "scaled_dot_product_attention"]


def softmax(x: Any, axis: int = LAST_AXIS, *, dim: int | None = None) -> Any:
    """exp(x) normalised along `axis` (`dim=` is PyTorch's name for it)."""
    return _activation.softmax(x, pick_axis("softmax", axis, dim, LAST_AXIS))


def log_softmax(x: Any, axis: int = LAST_AXIS, *, dim: int | None = None) -> Any:
    """log(softmax(x)) computed stably (fine for logits of magnitude 1e4); `dim=` as PyTorch."""
    return _activation.log_softmax(x, pick_axis("log_softmax", axis, dim, LAST_AXIS))
