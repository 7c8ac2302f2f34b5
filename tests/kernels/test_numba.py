"""minidl.kernels._numba: the threading layer minidl asks Numba for, and what it leaves alone;
parallel loops run in tasks."""
from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import numpy as np
import pytest

import minidl.kernels
from minidl.kernels import _numba

PROJECT = Path(__file__).resolve().parents[2]


def _run(*code: str, **env: str) -> list[str]:
    """Run the code pieces (each dedented) in a fresh interpreter; its stdout, split."""
    full = {k: v for k, v in os.environ.items()
            if k not in ("MINIDL_KERNELS", "MINIDL_NUMBA", "NUMBA_THREADING_LAYER", "OMP_WAIT_POLICY")}
    full.update(env, PYTHONPATH=str(PROJECT))
    source = "\n".join(textwrap.dedent(piece) for piece in code)
    done = subprocess.run([sys.executable, "-c", source], cwd=PROJECT, env=full,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout.split()


_TRAIN_STEP = """
    import numpy as np
    import minidl as md
    import minidl.functional as F
    from minidl import nn, optim

    net = nn.Sequential(nn.Conv2D(1, 8, 3), nn.ReLU(), nn.MaxPool2D(2), nn.Flatten(), nn.Dense(8 * 13 * 13, 10))
    opt = optim.Adam(net.parameters())
    x = md.tensor(np.random.default_rng(0).random((64, 1, 28, 28), dtype=np.float32))
    F.cross_entropy(net(x), md.tensor(np.arange(64) % 10)).backward()
    opt.step()
"""


def test_kernels_change_no_environment_variable_and_pick_a_fork_safe_layer():
    out = _run("""
        import os
        before = dict(os.environ)
    """, _TRAIN_STEP, """
        import numba
        print(dict(os.environ) == before, numba.config.THREADING_LAYER, numba.threading_layer())
    """)
    assert out[:2] == ["True", "forksafe"]
    # Numba's fork-safe layers on Linux: TBB when the tbb wheel (a dependency there) is in
    assert out[2] == ("tbb" if _has_tbb_wheel() else "workqueue")


def _has_tbb_wheel() -> bool:
    try:
        importlib.metadata.version("tbb")
    except importlib.metadata.PackageNotFoundError:
        return False
    return sys.platform.startswith("linux")


def test_the_users_threading_layer_wins():
    out = _run(_TRAIN_STEP, "import numba; print(numba.threading_layer())", NUMBA_THREADING_LAYER="omp")
    assert out == ["omp"]
    out = _run("import numba; numba.config.THREADING_LAYER = 'omp'", _TRAIN_STEP,
               "print(numba.threading_layer())")
    assert out == ["omp"]


@pytest.mark.parametrize("layer", ["workqueue", "minidl's choice"])
def test_threads_run_parallel_kernels_at_once(layer):
    # workqueue aborts the process when two threads enter parallel kernels at once
    # ("Concurrent access has been detected"); minidl enters them one at a time there.
    # TBB (minidl's choice where it loads) runs them concurrently.
    env = {"NUMBA_THREADING_LAYER": layer} if layer == "workqueue" else {}
    out = _run("""
        import threading
        import numpy as np
        import minidl as md
        import minidl.functional as F

        x = md.tensor(np.random.default_rng(0).random((64, 32, 26, 26), dtype=np.float32))
        expected = F.max_pool2d(x, 2).numpy()
        bad = []

        def run():
            for _ in range(60):
                if not (F.max_pool2d(x, 2).numpy() == expected).all():
                    bad.append(1)

        threads = [threading.Thread(target=run) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        import numba
        print(numba.threading_layer(), len(bad))
    """, **env)
    assert out[1] == "0" and out[0] == (layer if env else "tbb" if _has_tbb_wheel() else "workqueue")


@pytest.fixture
def fresh_numba_config(monkeypatch):
    """Numba's config as in a process where no parallel kernel has run and nobody chose."""
    monkeypatch.setattr(numba.config, "THREADING_LAYER", "default")
    monkeypatch.setattr(_numba, "_layer_running", lambda: False)
    for var in ("NUMBA_THREADING_LAYER", "NUMBA_THREADING_LAYER_PRIORITY"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_choose_threading_layer_asks_numba_for_a_fork_safe_layer(fresh_numba_config):
    assert _numba.choose_threading_layer() == "forksafe"
    assert numba.config.THREADING_LAYER == "forksafe"


@pytest.mark.parametrize("var", ["NUMBA_THREADING_LAYER", "NUMBA_THREADING_LAYER_PRIORITY"])
def test_choose_threading_layer_leaves_an_environment_choice_alone(fresh_numba_config, var):
    fresh_numba_config.setenv(var, "omp" if var == "NUMBA_THREADING_LAYER" else "omp tbb workqueue")
    assert _numba.choose_threading_layer() is None
    assert numba.config.THREADING_LAYER == "default"


def test_choose_threading_layer_leaves_a_choice_made_in_code_alone(fresh_numba_config):
    numba.config.THREADING_LAYER = "omp"
    assert _numba.choose_threading_layer() is None
    assert numba.config.THREADING_LAYER == "omp"


def test_choose_threading_layer_leaves_a_running_layer_alone(fresh_numba_config):
    fresh_numba_config.setattr(_numba, "_layer_running", lambda: True)
    assert _numba.choose_threading_layer() is None
    assert numba.config.THREADING_LAYER == "default"


# ---- parallel loops in tasks: a thread slowed by another library holds up only its task ----

def _write_chunk_size(x):  # pragma: no cover - compiled
    seen = numba.get_parallel_chunksize()  # what the kernel's prange is split by
    for i in numba.prange(x.size):
        x[i] = seen


# the probe reads Numba's chunk size through a pointer: Numba compiles it anew each process
pytestmark_probe = pytest.mark.filterwarnings("ignore:Cannot cache compiled function")


@pytest.fixture
def callers_chunk_size():
    """This thread's Numba chunk size set to 3, as a user might, and put back afterwards."""
    previous = numba.set_parallel_chunksize(3)
    yield 3
    numba.set_parallel_chunksize(previous)


@pytestmark_probe
def test_a_parallel_kernel_runs_its_loop_in_tasks_and_restores_the_callers_chunk_size(
        callers_chunk_size):
    x = np.zeros(1000)
    _numba.Parallel(_write_chunk_size, over=lambda x: x.size)(x)
    tasks = _numba.TASKS_PER_THREAD * numba.get_num_threads()
    assert (x == -(-1000 // tasks)).all()
    assert numba.get_parallel_chunksize() == callers_chunk_size


@pytestmark_probe
def test_without_a_trip_count_a_parallel_kernel_splits_its_loop_as_numba_does(callers_chunk_size):
    x = np.zeros(10)
    _numba.Parallel(_write_chunk_size)(x)
    assert (x == 0).all() and numba.get_parallel_chunksize() == callers_chunk_size


@pytestmark_probe
def test_a_failing_parallel_kernel_restores_the_callers_chunk_size(callers_chunk_size):
    with pytest.raises(numba.core.errors.TypingError):
        _numba.Parallel(_write_chunk_size, over=lambda x: len(x))([1.0, 2.0])
    assert numba.get_parallel_chunksize() == callers_chunk_size


def test_chunk_size():
    assert _numba.chunk_size(0) == 0  # Numba's static split: nothing to run
    assert _numba.chunk_size(1) == 1
    tasks = _numba.TASKS_PER_THREAD * numba.get_num_threads()
    assert _numba.chunk_size(tasks * 5 + 1) == 6


def test_every_parallel_kernel_of_minidl_gives_its_trip_count():
    kernels = {}
    for concern in pkgutil.iter_modules(minidl.kernels.__path__):
        if concern.ispkg:
            module = importlib.import_module(f"minidl.kernels.{concern.name}")
            cpu = importlib.util.find_spec(f"{module.__name__}.cpu")
            if cpu is not None:
                found = vars(importlib.import_module(cpu.name)).items()
                kernels.update({f"{cpu.name}.{k}": v for k, v in found if isinstance(v, _numba.Parallel)})
    assert len(kernels) >= 25
    assert [name for name, k in kernels.items() if k._over is None] == []
