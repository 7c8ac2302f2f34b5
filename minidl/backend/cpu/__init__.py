"""CPU kernels: a plain NumPy reference per hot path (one file per concern), and Numba
versions behind the same functions. `MINIDL_NUMBA=0` runs the references."""
