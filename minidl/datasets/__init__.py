"""Loaders for the real datasets the examples use (`md.datasets`)."""
from minidl.datasets.mnist import load_mnist, read_idx
from minidl.datasets.names import load_names
from minidl.datasets.paths import default_data_root

__all__ = ["load_mnist", "read_idx", "load_names", "default_data_root"]
