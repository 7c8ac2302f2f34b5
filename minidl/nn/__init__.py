"""Layers and models (`from minidl import nn`)."""
from minidl.nn.module import Module, Parameter, Sequential

__all__ = ["Module", "Parameter", "Sequential"]
