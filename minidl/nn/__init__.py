"""Layers and models (`from minidl import nn`)."""
from minidl.nn.module import Module, Parameter, Sequential
from minidl.nn.conv import Conv2D
from minidl.nn.pool import MaxPool2D
from minidl.nn.embedding import Embedding
from minidl.nn.rnn import LSTM
from minidl.nn import init
from minidl.nn.linear import Dense, Linear
from minidl.nn.activation import ReLU, Sigmoid, Softmax, Tanh
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
from minidl.nn.summary import summary

__all__ = ["Module", "Parameter", "Sequential", "Conv2D", "MaxPool2D", "LSTM", "Embedding",
           "init", "Dense", "Linear", "ReLU", "Sigmoid", "Tanh", "Softmax", "Dropout", "Flatten",
           "MSELoss", "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss", "L1Loss",
           "SmoothL1Loss", "HuberLoss", "summary"]
