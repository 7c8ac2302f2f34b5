"""Layers and models (`from minidl import nn`)."""
from minidl.nn.module import Module, Parameter, Sequential
from minidl.nn.container import Identity, ModuleDict, ModuleList
from minidl.nn.conv import Conv2D, Conv2d
from minidl.nn.pool import (AdaptiveAvgPool2D, AdaptiveAvgPool2d, AvgPool2D, AvgPool2d, MaxPool2D,
                            MaxPool2d)
from minidl.nn.embedding import Embedding
from minidl.nn.rnn import GRU, LSTM
from minidl.nn import init
from minidl.nn.linear import Dense, Linear
from minidl.nn.activation import ELU, GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Tanh
from minidl.nn.dropout import Dropout
from minidl.nn.flatten import Flatten
from minidl.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from minidl.nn.norm import BatchNorm1D, BatchNorm1d, BatchNorm2D, BatchNorm2d, LayerNorm
from minidl.nn.attention import MultiheadAttention
from minidl.nn.transformer import TransformerEncoder, TransformerEncoderLayer
from minidl.nn.summary import summary

__all__ = ["Module", "Parameter", "Sequential", "ModuleList", "ModuleDict", "Identity",
           "Conv2D", "Conv2d", "MaxPool2D", "MaxPool2d", "AvgPool2D", "AvgPool2d",
           "AdaptiveAvgPool2D", "AdaptiveAvgPool2d", "LSTM", "GRU", "Embedding",
           "init", "Dense", "Linear", "ReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "LeakyReLU",
           "GELU", "SiLU", "ELU", "Dropout", "Flatten",
           "MSELoss", "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "L1Loss",
           "SmoothL1Loss", "HuberLoss", "BatchNorm1D", "BatchNorm1d", "BatchNorm2D", "BatchNorm2d", "LayerNorm",
           "MultiheadAttention",
           "TransformerEncoder", "TransformerEncoderLayer", "summary"]
