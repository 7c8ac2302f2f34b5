"""minidl.distributed in one process: the job-of-one defaults, DistributedDataParallel as a
transparent wrapper, the start-up model check's message, the optimizer hook (one gradient
average per step however DDP, compile and fit are wired), lazy mpi4py."""
from __future__ import annotations

import gc
import subprocess
import sys

import numpy as np
import pytest

import minidl as md
import minidl.distributed as dist
from minidl import nn, optim
from minidl.distributed import state
from tests.distributed import workload


class FakeGroup:
    """Stands in for a ProcessGroup whose other ranks hold `others` (for all_gather_object)."""

    world_size = 3
    rank = 0

    def __init__(self, others: list) -> None:
        self.others = others

    def all_gather_object(self, obj):
        return [obj, *self.others]


def test_helpers_describe_a_job_of_one_before_init():
    assert not dist.is_initialized()
    assert (dist.get_rank(), dist.get_world_size(), dist.get_local_rank()) == (0, 1, 0)
    assert dist.is_main_process()
    a = np.arange(3.0)
    assert dist.all_reduce(a, "mean") is a and a.tolist() == [0.0, 1.0, 2.0]
    assert dist.broadcast(a) is a
    assert dist.broadcast_object({"k": 1}) == {"k": 1}
    assert dist.all_gather_object(5) == [5]
    dist.barrier()
    with pytest.raises(RuntimeError, match=r"call minidl.distributed.init\(\) first"):
        dist.get_group()


def test_abort_on_error_reraises_in_a_job_of_one():
    with pytest.raises(KeyError, match="plain"), dist.abort_on_error():
        raise KeyError("plain")


def test_ddp_without_init_is_a_transparent_wrapper():
    md.manual_seed(0)
    net = nn.Sequential(nn.Dense(3, 2))
    model = dist.DistributedDataParallel(net)
    x = md.randn(4, 3)
    np.testing.assert_array_equal(model(x).numpy(), net(x).numpy())
    assert list(model.parameters()) == list(net.parameters())
    assert list(model.state_dict()) == ["module.0.weight", "module.0.bias"]
    net(x).sum().backward()
    before = net[0].weight.grad.numpy().copy()
    model.sync_gradients()  # nothing to average with
    np.testing.assert_array_equal(net[0].weight.grad.numpy(), before)
    model.eval()
    assert not net.training
    assert "world_size=1" in repr(model)


def test_ddp_refuses_bad_arguments():
    with pytest.raises(TypeError, match="DistributedDataParallel: expected a Module, got list"):
        dist.DistributedDataParallel([])
    with pytest.raises(ValueError, match="bucket_cap_mb must be > 0, got 0"):
        dist.DistributedDataParallel(nn.Dense(2, 2), bucket_cap_mb=0)


def test_model_check_names_the_rank_and_the_first_differing_parameter():
    net = nn.Sequential(nn.Dense(3, 4), nn.Dense(4, 2))
    mine = [(n, tuple(p.shape), str(p.dtype)) for n, p in net.named_parameters()]
    dist.check_same_parameters(net.named_parameters(), FakeGroup([mine, mine]))  # all equal: fine
    changed = [*mine[:2], ("1.weight", (4, 3), "float32"), mine[3]]
    with pytest.raises(ValueError, match=r"model on rank 2 differs from rank 0 at parameter #2: "
                                         r"rank 0 has '1.weight' of shape \(4, 2\) and dtype float32, "
                                         r"rank 2 has '1.weight' of shape \(4, 3\)"):
        dist.check_same_parameters(net.named_parameters(), FakeGroup([mine, changed]))
    with pytest.raises(ValueError, match=r"rank 1 .* parameter #4: rank 0 has no parameter there, "
                                         r"rank 1 has 'extra'"):
        dist.check_same_parameters(net.named_parameters(), FakeGroup([[*mine, ("extra", (1,), "float32")],
                                                                      mine]))
    as64 = [(n, s, "float64") for n, s, _ in mine]
    with pytest.raises(ValueError, match="dtype float64"):
        dist.check_same_parameters(net.named_parameters(), FakeGroup([as64, mine]))


class MirrorGroup:
    """A job of two whose other rank always holds exactly what this one holds (so a mean
    changes nothing, a sum doubles), counting every collective: what it would cost."""

    world_size = 2
    rank = 0
    backend = "numpy"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def all_reduce(self, array, op="sum"):
        self.calls.append(f"all_reduce:{op}")
        if op == "sum":
            array *= 2
        return array

    def broadcast(self, array, root=0):
        self.calls.append("broadcast")
        return array

    def broadcast_object(self, obj, root=0):
        self.calls.append("broadcast_object")
        return obj

    def all_gather_object(self, obj):
        self.calls.append("all_gather_object")
        return [obj, obj]

    def gradient_averages(self) -> int:
        """All-reduces of gradient buckets (op "mean"; one bucket per step for small models)."""
        return self.calls.count("all_reduce:mean")


def test_ddp_averages_in_a_step_hook_after_the_closure_and_before_the_update():
    group = MirrorGroup()
    p = nn.Parameter(np.array([1.0, 2.0]))
    net = nn.Sequential()
    net.p = p
    opt = optim.SGD([p], lr=0.5)
    events = []
    group.all_reduce = lambda a, op="sum": events.append(("all_reduce", op, a.tolist())) or a
    model = dist.DistributedDataParallel(net, optimizer=opt, group=group)

    def closure():
        events.append("closure")
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 5.0
    assert events == ["closure", ("all_reduce", "max", [1]), ("all_reduce", "mean", [2.0, 4.0])]
    np.testing.assert_allclose(p.numpy(), [0.0, 0.0])  # p - 0.5 * grad: the update ran after it
    assert model.reducer is not None


@pytest.mark.parametrize("wiring", workload.WIRINGS)
def test_one_gradient_average_per_step_however_it_is_wired(wiring, monkeypatch):
    group = MirrorGroup()
    monkeypatch.setattr(state, "_group", group)  # as init() would set it, without MPI
    steps = workload.train_wired(wiring)
    assert steps == workload.WIRED_STEPS
    assert group.gradient_averages() == steps


def test_the_hook_goes_with_the_wrapper(monkeypatch):
    group = MirrorGroup()
    p = nn.Parameter(np.array([1.0, 2.0]))
    net = nn.Sequential()
    net.p = p
    opt = optim.SGD([p], lr=0.5)
    model = dist.DistributedDataParallel(net, optimizer=opt, group=group)
    p.grad = md.tensor([1.0, 1.0])
    opt.step()
    assert group.gradient_averages() == 1
    del model
    gc.collect()
    p.grad = md.tensor([1.0, 1.0])
    opt.step()
    assert group.gradient_averages() == 1  # no wrapper, no averaging (as in PyTorch)
    assert not opt._step_pre_hooks


def test_ddp_refuses_an_optimizer_it_cannot_hook():
    class Plain:
        def step(self):
            pass

        def zero_grad(self):
            pass

    with pytest.raises(TypeError, match="optimizer must be a minidl optimizer .*register_step_pre_hook"
                                        ".*got Plain"):
        dist.DistributedDataParallel(nn.Dense(2, 2), optimizer=Plain(), group=MirrorGroup())


def test_init_without_mpi4py_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # makes `from mpi4py import MPI` fail
    with pytest.raises(ImportError, match=r'pip install "minidl\[mpi\]"'):
        dist.init()
    assert not dist.is_initialized()


def test_importing_minidl_does_not_start_mpi():
    code = "import sys, minidl, minidl.distributed; print('mpi4py' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
