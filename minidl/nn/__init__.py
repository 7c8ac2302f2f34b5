"""Layers and models (`from minidl import nn`)."""
from minidl.nn.module import Module, Parameter, Sequential
from minidl.nn.embedding import Embedding
from minidl.nn.rnn import LSTM

__all__ = ["Module", "Parameter", "Sequential", "LSTM", "Embedding"]
