"""Public differentiable functions (`import minidl.functional as F`): thin wrappers over ops."""
from __future__ import annotations

from minidl.ops.activation import log_softmax, relu, sigmoid, softmax, tanh
from minidl.ops.conv import conv2d
from minidl.ops.pool import max_pool2d
from minidl.ops.embedding import embedding

__all__ = ["conv2d", "max_pool2d", "relu", "sigmoid", "tanh", "softmax", "log_softmax", "embedding"]
