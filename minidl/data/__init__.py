"""Datasets, batching and small augmentations (`md.data`)."""
from minidl.data.augment import random_shift
from minidl.data.collate import default_collate
from minidl.data.dataloader import DataLoader
from minidl.data.dataset import Dataset, Subset, TensorDataset, random_split

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split", "DataLoader", "default_collate",
           "random_shift"]
