"""Exceptions users can catch by name."""


class BackendUnavailableError(RuntimeError):
    """The requested backend (CuPy or a GPU) is not available on this machine."""


class DeviceMismatchError(ValueError):
    """An op got inputs on different devices; minidl never copies silently."""


class GradcheckError(AssertionError):
    """Analytic and numerical gradients disagree."""
