"""Public differentiable functions (`import minidl.functional as F`): thin wrappers over ops."""
from __future__ import annotations

from minidl.ops.activation import log_softmax, relu, sigmoid, softmax, tanh
from minidl.ops.conv import conv2d
from minidl.ops.pool import max_pool2d
from minidl.ops.embedding import embedding
from minidl.ops.linear import linear
from minidl.ops.dropout import dropout
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

__all__ = ["conv2d", "max_pool2d", "relu", "sigmoid", "tanh", "softmax", "log_softmax", "embedding",
           "linear", "dropout", "mse_loss", "cross_entropy", "binary_cross_entropy_with_logits",
           "binary_cross_entropy", "nll_loss", "l1_loss", "smooth_l1_loss", "huber_loss"]
