"""minidl.kernels._workspace: scratch arrays reused only when nothing else holds them."""
from __future__ import annotations

import copy
import gc
import pickle
import threading
import time
import weakref

import numpy as np
import pytest

from minidl.kernels._workspace import MAX_PER_KEY, Workspace


def test_an_array_nobody_holds_is_handed_out_again():
    ws = Workspace()
    a = ws.empty("pool.out", (4, 3), np.float32)
    address = a.__array_interface__["data"][0]
    del a
    b = ws.empty("pool.out", (4, 3), np.float32)
    assert b.__array_interface__["data"][0] == address
    assert b.shape == (4, 3) and b.dtype == np.float32 and b.flags.c_contiguous
    assert len(ws) == 1


def test_an_array_still_held_is_never_handed_out():
    ws = Workspace()
    kept = ws.empty("relu.out", (1000,), np.float64)
    kept[:] = 1.0
    other = ws.empty("relu.out", (1000,), np.float64)
    other[:] = 2.0
    assert not np.shares_memory(kept, other)
    assert (kept == 1.0).all()


def test_a_view_keeps_its_base_in_use():
    ws = Workspace()
    a = ws.empty("x", (10, 10), np.float32)
    row = a[3]
    del a
    b = ws.empty("x", (10, 10), np.float32)
    assert not np.shares_memory(b, row)


def test_name_shape_and_dtype_each_make_a_different_key():
    ws = Workspace()
    a = ws.empty("a", (8,), np.float32)
    del a
    for name, shape, dtype in (("b", (8,), np.float32), ("a", (9,), np.float32), ("a", (8,), np.float64)):
        got = ws.empty(name, shape, dtype)
        assert got.shape == shape and got.dtype == dtype
    assert len(ws) == 4


def test_arrays_kept_per_key_are_bounded():
    ws = Workspace()
    held = [ws.empty("grad", (16,), np.float32) for _ in range(MAX_PER_KEY + 3)]
    assert len({h.__array_interface__["data"][0] for h in held}) == len(held)  # all distinct
    assert len(ws) == MAX_PER_KEY
    assert ws.nbytes == MAX_PER_KEY * 16 * 4


def test_deleting_the_workspace_frees_its_arrays():
    ws = Workspace()
    a = ws.empty("big", (1 << 16,), np.float32)
    ref = weakref.ref(a)
    del a
    assert ref() is not None  # kept by the workspace for the next step
    del ws
    gc.collect()
    assert ref() is None


def test_clear_drops_arrays_but_not_the_callers():
    ws = Workspace()
    kept = ws.empty("k", (5,), np.float32)
    kept[:] = 7
    ws.clear()
    assert len(ws) == 0 and (kept == 7).all()


def test_copies_of_an_owner_start_with_an_empty_workspace():
    ws = Workspace(max_per_key=2)
    a = ws.empty("k", (5,), np.float32)
    for clone in (copy.deepcopy(ws), pickle.loads(pickle.dumps(ws))):
        assert len(clone) == 0 and clone.max_per_key == 2
        assert not np.shares_memory(clone.empty("k", (5,), np.float32), a)


def test_threads_never_share_an_array_in_use():
    ws = Workspace(max_per_key=8)
    errors = []

    def worker(tag: float) -> None:
        for _ in range(100):
            a = ws.empty("shared", (256,), np.float64)
            a[:] = tag
            time.sleep(0.0002)  # let the other threads run (and take it, if they could)
            if not (a == tag).all():
                errors.append(tag)
            del a

    threads = [threading.Thread(target=worker, args=(float(t),)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_bad_max_per_key_names_the_class():
    with pytest.raises(ValueError, match="Workspace: max_per_key must be at least 1, got 0"):
        Workspace(max_per_key=0)
