"""Whether ops record a graph: `no_grad()` turns recording off inside its block."""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_state = threading.local()


def is_grad_enabled() -> bool:
    """True unless inside `no_grad()` (per thread)."""
    return getattr(_state, "enabled", True)


@contextlib.contextmanager
def _set_grad_enabled(mode: bool) -> Iterator[None]:
    previous = is_grad_enabled()
    _state.enabled = mode
    try:
        yield
    finally:
        _state.enabled = previous


def no_grad() -> contextlib.AbstractContextManager[None]:
    """Context manager in which ops record no graph (for inference and updates)."""
    return _set_grad_enabled(False)


def enable_grad() -> contextlib.AbstractContextManager[None]:
    """Context manager that turns recording back on inside a `no_grad()` block."""
    return _set_grad_enabled(True)
