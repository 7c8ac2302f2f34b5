"""Optimizers, learning-rate schedules and gradient clipping (`from minidl import optim`)."""
from minidl.optim import lr_scheduler
from minidl.optim.adagrad import Adagrad
from minidl.optim.adam import Adam, AdamW
from minidl.optim.clip import clip_grad_norm_
from minidl.optim.optimizer import Optimizer
from minidl.optim.rmsprop import RMSprop
from minidl.optim.sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Optimizer", "clip_grad_norm_",
           "lr_scheduler"]
