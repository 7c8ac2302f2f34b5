"""DataLoader worker processes: each loads whole batches; the main process puts them back
in order.

Batch i goes to worker i % num_workers, at most `prefetch` batches ahead of the one
being consumed. A worker sends each batch as pickled bytes (pickled in the worker, so
a batch that cannot be pickled is reported instead of lost), or the text of the
exception it raised. The main process never waits blindly: between short waits it
checks that every worker is alive, and honours `timeout`.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import queue
import random
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

_POLL_S = 0.1      # how often a waiting main process checks its workers
_JOIN_S = 1.0      # how long shutdown waits for a worker before terminating it


def default_context() -> str:
    """"fork" where the platform has it (fast: nothing is pickled to start a worker),
    else "spawn"."""
    return "fork" if "fork" in mp.get_all_start_methods() else "spawn"


class WorkerError:
    """An exception raised in a worker, carried to the main process as text."""

    def __init__(self, exc: BaseException, worker_id: int) -> None:
        self.text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.where = f"in DataLoader worker process {worker_id}"
        self.exc_type: type | None = type(exc)
        try:  # a class defined inside a function cannot be sent by reference
            pickle.dumps(self.exc_type)
        except Exception:
            self.exc_type = None
        self.type_name = type(exc).__name__

    def reraise(self) -> None:
        """Raise the same exception type in the main process, its message holding the
        worker's traceback (RuntimeError when the type cannot be rebuilt), as PyTorch."""
        msg = f"Caught {self.type_name} {self.where}.\nOriginal {self.text}"
        if self.exc_type is KeyError:  # KeyError shows repr() of its message: keep the lines
            msg = _Verbatim(msg)
        try:
            exc = self.exc_type(msg) if self.exc_type is not None else None
        except Exception:
            exc = None
        if not isinstance(exc, BaseException):
            raise RuntimeError(msg)
        raise exc


class _Verbatim(str):
    def __repr__(self) -> str:
        return str(self)


def worker_loop(fetch: Callable[[Any], Any], index_queue: Any, result_queue: Any, worker_id: int,
                seed: int, init_fn: Callable[[int], Any] | None, parent: int) -> None:
    """Serve (batch number, indices) tasks until a None arrives or the parent is gone."""
    from minidl.backend.random import manual_seed  # noqa: PLC0415 - only in the worker

    # a worker shuts down with its queue possibly unread: never block on flushing it
    result_queue.cancel_join_thread()
    try:
        manual_seed(seed)  # distinct, repeatable random streams per worker (augmentation)
        random.seed(seed)
        np.random.seed(seed % 2**32)
        if init_fn is not None:
            init_fn(worker_id)
    except Exception as exc:
        result_queue.put((-1, WorkerError(exc, worker_id)))
        return
    try:
        while True:
            try:
                task = index_queue.get(timeout=1.0)
            except queue.Empty:
                if os.getppid() != parent:  # the main process died: do not linger
                    return
                continue
            if task is None:
                return
            number, indices = task
            try:
                payload: Any = pickle.dumps(fetch(indices), protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:
                payload = WorkerError(exc, worker_id)
            result_queue.put((number, payload))
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the main process reports it
        return


class WorkerPool:
    """`num_workers` processes loading the batches `tasks` (lists of indices) in order."""

    def __init__(self, fetch: Callable[[Any], Any], tasks: list[Any], num_workers: int, seeds: list[int],
                 init_fn: Callable[[int], Any] | None, context: str, timeout: float, prefetch: int = 2) -> None:
        ctx = mp.get_context(context)
        self.tasks, self.timeout = tasks, timeout
        self.index_queues = [ctx.Queue() for _ in range(num_workers)]
        self.result_queue = ctx.Queue()
        self.workers: list[Any] = []
        self.buffer: dict[int, Any] = {}
        self.sent = 0
        self.closed = False
        for wid in range(num_workers):
            w = ctx.Process(target=worker_loop, daemon=True,
                            args=(fetch, self.index_queues[wid], self.result_queue, wid, seeds[wid],
                                  init_fn, os.getpid()))
            try:
                w.start()
            except Exception as exc:
                self.shutdown()
                raise TypeError(f"DataLoader(num_workers={num_workers}): could not start a worker with "
                                f"the {context!r} start method ({type(exc).__name__}: {exc}); with "
                                f"'spawn' the dataset and functions are pickled, so define them at "
                                f"module level, or use num_workers=0") from exc
            self.workers.append(w)
        for _ in range(min(prefetch * num_workers, len(tasks))):
            self._send()

    def _send(self) -> None:
        n = self.sent
        self.index_queues[n % len(self.workers)].put((n, self.tasks[n]))
        self.sent += 1

    def get(self, number: int) -> Any:
        """Batch `number` (waiting for it), then one more task sent to keep the workers busy."""
        started = time.monotonic()
        while number not in self.buffer:
            try:
                got, payload = self.result_queue.get(timeout=_POLL_S)
            except queue.Empty:
                self._check_alive()
                if self.timeout and time.monotonic() - started > self.timeout:
                    raise RuntimeError(f"DataLoader timed out after {self.timeout} s waiting for "
                                       f"batch {number} from its workers") from None
                continue
            if isinstance(payload, WorkerError) and got == -1:
                payload.reraise()
            self.buffer[got] = payload
        payload = self.buffer.pop(number)
        if isinstance(payload, WorkerError):
            payload.reraise()
        if self.sent < len(self.tasks):
            self._send()
        return pickle.loads(payload)

    def _check_alive(self) -> None:
        for wid, w in enumerate(self.workers):
            if not w.is_alive():
                raise RuntimeError(f"DataLoader worker {wid} (pid {w.pid}) exited unexpectedly with "
                                   f"exit code {w.exitcode}")

    def shutdown(self) -> None:
        """Stop every worker (asking first, then terminating) and release the queues."""
        if self.closed:
            return
        self.closed = True
        for q in self.index_queues:
            try:
                q.put(None)
            except Exception:
                pass
        deadline = time.monotonic() + _JOIN_S
        for w in self.workers:
            w.join(timeout=max(0.0, deadline - time.monotonic()))
            if w.is_alive():
                w.terminate()
                w.join(timeout=_JOIN_S)
        for q in [*self.index_queues, self.result_queue]:
            q.cancel_join_thread()
            q.close()
