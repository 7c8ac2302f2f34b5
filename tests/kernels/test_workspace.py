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

from minidl.kernels._workspace import (MAX_PER_KIND, SCRATCH_MIN_BYTES, Workspace, current, scratch,
                                       using)


def test_an_array_nobody_holds_is_handed_out_again():
    ws = Workspace()
    a = ws.empty((4, 3), np.float32)
    address = a.__array_interface__["data"][0]
    del a
    b = ws.empty((4, 3), np.float32)
    assert b.__array_interface__["data"][0] == address
    assert b.shape == (4, 3) and b.dtype == np.float32 and b.flags.c_contiguous
    assert len(ws) == 1


def test_an_array_still_held_is_never_handed_out():
    ws = Workspace()
    kept = ws.empty((1000,), np.float64)
    kept[:] = 1.0
    other = ws.empty((1000,), np.float64)
    other[:] = 2.0
    assert not np.shares_memory(kept, other)
    assert (kept == 1.0).all()


def test_a_view_keeps_its_base_in_use():
    ws = Workspace()
    a = ws.empty((10, 10), np.float32)
    row = a[3]
    del a
    b = ws.empty((10, 10), np.float32)
    assert not np.shares_memory(b, row)


def test_shape_and_dtype_each_make_a_different_kind():
    ws = Workspace()
    held = [ws.empty(shape, dtype) for shape, dtype in (((8,), np.float32), ((9,), np.float32),
                                                         ((8,), np.float64))]
    assert [(h.shape, h.dtype) for h in held] == [((8,), np.float32), ((9,), np.float32),
                                                  ((8,), np.float64)]
    assert len(ws) == 3


def test_an_array_freed_by_one_kernel_serves_the_next_of_its_shape():
    ws = Workspace()
    first = ws.empty((64, 8), np.float32)
    address = first.__array_interface__["data"][0]
    del first  # e.g. the pool's input gradient, once the ReLU's backward has read it
    assert ws.empty((64, 8), np.float32).__array_interface__["data"][0] == address


def test_kinds_idle_for_two_calls_are_dropped_but_held_arrays_stay():
    ws = Workspace()
    train = ws.empty((64, 8), np.float32)
    del train
    kept = ws.empty((32, 8), np.float32)
    for _ in range(3):  # three evaluation calls at batch 1000
        ws.new_call()
        evaluation = ws.empty((1000, 8), np.float32)
        del evaluation
    assert len(ws) == 2 and ws.nbytes == (32 + 1000) * 8 * 4  # (64, 8) went, the held one stays
    del kept


def test_scratch_takes_from_the_workspace_in_use_and_from_numpy_outside():
    ws = Workspace()
    assert current() is None
    outside = scratch((1 << 16,), np.float32)
    assert len(ws) == 0 and outside.shape == (1 << 16,)
    with using(ws):
        assert current() is ws
        inside = scratch((1 << 16,), np.float32)
        with using(None):
            assert current() is None
        assert current() is ws
    assert current() is None and len(ws) == 1
    address = inside.__array_interface__["data"][0]
    del inside
    with using(ws):
        again = scratch((1 << 16,), np.float32)
    assert again.__array_interface__["data"][0] == address


def test_small_scratch_arrays_are_plain_numpy_arrays():
    ws = Workspace()
    with using(ws):
        small = scratch((SCRATCH_MIN_BYTES // 4 - 1,), np.float32)
        large = scratch((SCRATCH_MIN_BYTES // 4,), np.float32)
    assert small.dtype == large.dtype == np.float32
    assert len(ws) == 1 and ws.nbytes == SCRATCH_MIN_BYTES


def test_the_workspace_in_use_is_per_thread():
    ws, seen = Workspace(), []
    with using(ws):
        t = threading.Thread(target=lambda: seen.append(current()))
        t.start()
        t.join()
    assert seen == [None]


def test_arrays_kept_per_kind_are_bounded():
    ws = Workspace()
    held = [ws.empty((16,), np.float32) for _ in range(MAX_PER_KIND + 3)]
    assert len({h.__array_interface__["data"][0] for h in held}) == len(held)  # all distinct
    assert len(ws) == MAX_PER_KIND
    assert ws.nbytes == MAX_PER_KIND * 16 * 4


def test_deleting_the_workspace_frees_its_arrays():
    ws = Workspace()
    a = ws.empty((1 << 16,), np.float32)
    ref = weakref.ref(a)
    del a
    assert ref() is not None  # kept by the workspace for the next step
    del ws
    gc.collect()
    assert ref() is None


def test_clear_drops_arrays_but_not_the_callers():
    ws = Workspace()
    kept = ws.empty((5,), np.float32)
    kept[:] = 7
    ws.clear()
    assert len(ws) == 0 and (kept == 7).all()


def test_copies_of_an_owner_start_with_an_empty_workspace():
    ws = Workspace(max_per_kind=2)
    a = ws.empty((5,), np.float32)
    for clone in (copy.deepcopy(ws), pickle.loads(pickle.dumps(ws))):
        assert len(clone) == 0 and clone.max_per_kind == 2
        assert not np.shares_memory(clone.empty((5,), np.float32), a)


def test_threads_never_share_an_array_in_use():
    ws = Workspace(max_per_kind=8)
    errors = []

    def worker(tag: float) -> None:
        for _ in range(100):
            a = ws.empty((256,), np.float64)
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


def test_bad_max_per_kind_names_the_class():
    with pytest.raises(ValueError, match="Workspace: max_per_kind must be at least 1, got 0"):
        Workspace(max_per_kind=0)


# ---- the workspaces of modules ------------------------------------------------------------

def _cnn():
    import minidl as md
    from minidl import nn

    md.manual_seed(0)
    return nn.Sequential(nn.Conv2D(1, 16, 3), nn.ReLU(), nn.MaxPool2D(2))


def _address(t) -> int:
    return t.numpy().__array_interface__["data"][0]


def test_a_layer_reuses_its_large_arrays_step_after_step():
    import minidl as md

    net = _cnn()
    x = md.tensor(np.random.default_rng(0).random((64, 1, 28, 28), dtype=np.float32))
    first = _address(net(x))
    seen = {_address(net(x)) for _ in range(3)}  # each output dropped before the next step
    assert seen == {first}
    # the model's workspace serves its layers (the pooled output and its argmax live there;
    # the fused Conv2D + ReLU + MaxPool2D makes no full-size output); theirs stay empty
    assert net._workspace.nbytes >= 2 * 64 * 16 * 13 * 13 * 4
    assert all(len(layer._workspace) == 0 for layer in net)


def test_outputs_and_graphs_the_caller_keeps_are_never_overwritten():
    import minidl as md
    import minidl.functional as F

    net = _cnn()
    rng = np.random.default_rng(1)
    xs = [md.tensor(rng.random((64, 1, 28, 28), dtype=np.float32)) for _ in range(3)]
    kept = [net(x) for x in xs]
    expected = [F.max_pool2d(F.relu(F.conv2d(x, net[0].weight, net[0].bias)), 2).numpy() for x in xs]
    for k, e in zip(kept, expected):
        np.testing.assert_array_equal(k.numpy(), e)
    _assert_a_kept_graph_keeps_its_arrays(
        net, xs, lambda x: F.max_pool2d(F.relu(F.conv2d(x, net[0].weight, net[0].bias)), 2),
        rtol=1e-6)


def _assert_a_kept_graph_keeps_its_arrays(model, xs, apart, **tolerance):
    """A graph of xs[0] kept while the model trains on the others: its backward still sees
    its own saved arrays, so x's gradient equals that of `apart` (the same computation
    outside the model, on plain arrays)."""
    import minidl as md

    x = md.tensor(xs[0].numpy(), requires_grad=True)
    loss = model(x).sum()
    for other in xs[1:]:
        model(other).sum().backward()
    loss.backward()
    reference = md.tensor(xs[0].numpy(), requires_grad=True)
    apart(reference).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), reference.grad.numpy(), **tolerance)


def test_recurrent_and_dense_buffers_the_caller_keeps_are_never_overwritten():
    """Linear's output and the LSTM's sequence buffers come from the workspace too: outputs
    and graphs kept across calls keep their own arrays."""
    import minidl as md
    from minidl import nn

    md.manual_seed(0)
    lstm, head = nn.LSTM(8, 128, batch_first=True), nn.Dense(128, 600)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm, self.head = lstm, head

        def forward(self, x):
            return self.head(self.lstm(x)[0])

    model = Model()
    rng = np.random.default_rng(2)
    xs = [md.tensor(rng.standard_normal((16, 40, 8)), dtype="float32") for _ in range(3)]
    kept = [model(x) for x in xs]
    with md.no_grad():
        expected = [head(lstm(x)[0]).numpy() for x in xs]  # outside the model: plain arrays
    for k, e in zip(kept, expected):
        np.testing.assert_array_equal(k.numpy(), e)
    assert kept[0].numpy().nbytes >= 256 * 1024  # large enough for the workspace
    _assert_a_kept_graph_keeps_its_arrays(model, xs, lambda x: head(lstm(x)[0]), rtol=1e-5, atol=1e-6)


def test_deleting_a_model_frees_its_workspace():
    import minidl as md

    net = _cnn()
    net(md.tensor(np.zeros((64, 1, 28, 28), np.float32)))
    ws = weakref.ref(net._workspace)
    assert ws() is not None and ws().nbytes > 0
    del net
    gc.collect()
    assert ws() is None
