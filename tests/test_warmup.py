"""`python -m minidl.warmup`: after it, the seed models' first run compiles nothing."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from minidl import warmup
from minidl.kernels import _route

ROOT = Path(__file__).resolve().parents[1]

# Trains each seed model as benchmarks.compare does (batches 64 and 128, inference at 500)
# and prints every Numba compile of a minidl kernel, one per line.
CHECK = """
import numpy as np
from numba.core import event
from benchmarks import models

compiled = []

class Listener(event.Listener):
    def on_start(self, ev):
        compiled.append(ev.data["dispatcher"].py_func.__qualname__)
    def on_end(self, ev):
        pass

event.register("numba:compile", Listener())
rng = np.random.default_rng(0)
for model in ("cnn", "mlp", "lstm"):
    train, infer, to_dev = models.minidl_workload(model)
    for batch in (64, 128, 500):
        images = rng.random((batch, 1, 28, 28), dtype=np.float32)
        labels = rng.integers(0, 10, batch)
        x, y = models.model_input(model, images), models.model_target(model, labels)
        if batch == 500:
            infer(to_dev(x))
        else:
            train(to_dev(x), to_dev(y))
print("\\n".join(sorted(set(compiled))))
"""


def _run(args: list[str], cache: Path) -> str:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    env.pop("MINIDL_KERNELS", None)
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.skipif(not _route.numba_available(), reason="needs Numba (the kernels it compiles)")
def test_seed_models_compile_nothing_after_warmup(tmp_path: Path) -> None:
    said = _run(["-m", "minidl.warmup"], tmp_path)
    assert "compiling CPU kernels" in said and "kernels ready in" in said
    assert _run(["-c", CHECK], tmp_path).split() == []


def test_unknown_model_is_named() -> None:
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        warmup.warmup(["cnn", "resnet"])


def test_nothing_runs_with_fast_kernels_off(capsys: pytest.CaptureFixture[str]) -> None:
    before = _route.set_kernels("reference")
    try:
        assert warmup.warmup(["cnn"]) == {}
        assert warmup.main(["cnn"]) == 0
    finally:
        _route.set_kernels(before)
    assert "nothing to compile" in capsys.readouterr().out
