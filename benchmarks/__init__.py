"""Benchmarks for minidl (not collected by the default test run).

- `python -m benchmarks.compare`: minidl (NumPy/Numba, CuPy when a GPU is there) beside
  PyTorch (when installed) on real MNIST images; prints a table, can save Markdown and PNG.
- `python -m pytest benchmarks --benchmark-enable`: per-kernel and per-model timings.
"""
