"""cupy.cuda of the emulator: two devices (so the 2-GPU NCCL tests run, one device per
MPI rank), one stream, events that time on the host clock, and NCCL over MPI."""
from __future__ import annotations

import time
from typing import Any

DEVICES = 2


class runtime:  # noqa: N801 - CuPy's name
    @staticmethod
    def getDeviceCount() -> int:  # noqa: N802
        return DEVICES

    @staticmethod
    def getDevice() -> int:  # noqa: N802
        return _current

    @staticmethod
    def getDeviceProperties(device: int) -> dict:  # noqa: N802
        return {"name": b"CuPy emulator (CPU)", "major": 9, "minor": 0, "totalGlobalMem": 2**34}

    @staticmethod
    def deviceSynchronize() -> None:  # noqa: N802
        _count_sync()


def _count_sync() -> None:
    import cupy  # noqa: PLC0415

    cupy.host_syncs += 1


class Device:
    def __init__(self, device: int | None = None) -> None:
        self.id = _current if device is None else int(device)

    def use(self) -> None:
        global _current
        if not 0 <= self.id < DEVICES:
            raise RuntimeError(f"cudaErrorInvalidDevice: the emulator has devices 0..{DEVICES - 1}, "
                               f"not {self.id}")
        _current = self.id

    def synchronize(self) -> None:
        _count_sync()

    def __enter__(self) -> "Device":
        self._before = _current
        self.use()
        return self

    def __exit__(self, *exc: Any) -> None:
        Device(self._before).use()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self) -> int:
        return self.id


class MemoryPointer:
    def __init__(self, ptr: int) -> None:
        self.ptr = ptr


class Stream:
    null: "Stream"

    def __init__(self, null: bool = False, non_blocking: bool = False) -> None:
        self.ptr = 0

    def synchronize(self) -> None:
        _count_sync()

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


Stream.null = Stream(null=True)


def get_current_stream() -> Stream:
    return Stream.null


class Event:
    def __init__(self, block: bool = False, disable_timing: bool = False, interprocess: bool = False) -> None:
        self.time: float | None = None

    def record(self, stream: Any = None) -> None:
        self.time = time.perf_counter()

    def synchronize(self) -> None:
        _count_sync()

    @property
    def done(self) -> bool:
        return True


def get_elapsed_time(start: Event, end: Event) -> float:
    """Milliseconds between two recorded events."""
    return (end.time - start.time) * 1e3


def get_device_id() -> int:
    return _current


_current = 0


def __getattr__(name: str) -> Any:
    if name == "nccl":  # `from cupy.cuda import nccl`, as CuPy's optional NCCL module
        import importlib  # noqa: PLC0415

        return importlib.import_module("cupy.nccl_emulated")
    raise AttributeError(f"module 'cupy.cuda' has no attribute {name!r} (CuPy emulator)")
