"""GPU kernels (CuPy ElementwiseKernel/RawKernel), built lazily and memoised."""
