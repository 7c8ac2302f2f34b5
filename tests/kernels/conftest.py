"""Fixtures of the kernel tests: which Numba build runs, and the reference mode."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from minidl.kernels import _route


def force_build(monkeypatch: pytest.MonkeyPatch, name: str, which: str) -> None:
    """Make the kernels governed by tuning constant `name` run their `which` build
    ("serial" or "parallel") whatever the size of the work."""
    monkeypatch.setitem(_route.TUNING, name, 10**12 if which == "serial" else 0)


@pytest.fixture(params=["serial", "parallel"])
def build(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Conv and pool kernels: the serial build, then the parallel one, on every size."""
    force_build(monkeypatch, "MINIDL_PARALLEL_MIN", request.param)
    return request.param


@pytest.fixture
def reference_mode() -> Iterator[None]:
    """As MINIDL_KERNELS=reference: every concern runs its reference implementation."""
    before = _route.set_kernels("reference")
    yield
    _route.set_kernels(before)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[str]]:
    """spy(module, *names) -> the list of the names called, in order; each still runs."""
    calls: list[str] = []

    def install(module: Any, *names: str) -> list[str]:
        for name in names:
            def wrapper(*args: Any, _real: Any = getattr(module, name), _name: str = name, **kw: Any) -> Any:
                calls.append(_name)
                return _real(*args, **kw)
            monkeypatch.setattr(module, name, wrapper)
        return calls

    return install
