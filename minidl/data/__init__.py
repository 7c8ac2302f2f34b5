"""Datasets, batching and small augmentations (`md.data`)."""
from minidl.data.augment import random_shift
from minidl.data.dataloader import DataLoader
from minidl.data.dataset import Dataset, TensorDataset

__all__ = ["Dataset", "TensorDataset", "DataLoader", "random_shift"]
