"""Loaders for the real datasets the examples use (`md.datasets`)."""
from minidl.datasets.mnist import load_mnist, load_mnist_splits, read_idx
from minidl.datasets.names import load_names
from minidl.datasets.paths import default_data_root, find_data_root

__all__ = ["default_data_root", "find_data_root", "load_mnist", "load_mnist_splits", "load_names",
           "read_idx"]
