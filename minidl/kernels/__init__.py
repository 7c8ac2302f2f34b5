"""The math of the hot paths, one folder per concern (conv, pool, activation, loss, optim,
recurrent, ...).

Each concern's `__init__.py` states its contract (shapes; `forward` returns
`(outputs, saved)`, `backward` takes `saved`) and routes every call through
`_route.route(*arrays)` to one of three implementations beside it:
`reference.py` (plain array code, NumPy and CuPy alike: what runs with
`MINIDL_KERNELS=reference` and what gradcheck trusts), `cpu.py` (Numba) and `gpu.py`
(CuPy RawKernels). Ops in `minidl/ops` call one kernel function each way and keep only
graph bookkeeping.
"""
from minidl.kernels._route import kernels_mode, route, set_kernels, tuning

__all__ = ["kernels_mode", "route", "set_kernels", "tuning"]
