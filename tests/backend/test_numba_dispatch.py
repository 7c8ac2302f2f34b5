"""The Numba switch: lazy import, MINIDL_NUMBA=0, which arrays go to kernels, and the
on-disk JIT cache (a second process loads the machine code instead of compiling)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from minidl.backend.cpu import dispatch

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, **env: str) -> str:
    full = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=full, capture_output=True,
                         text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1]


def test_import_minidl_does_not_import_numba():
    assert _run("import sys, minidl; print('numba' in sys.modules)") == "False"


def test_minidl_numba_0_runs_the_references_without_numba():
    code = ("import sys, numpy as np, minidl as md, minidl.functional as F\n"
            "from minidl.backend.cpu.dispatch import use_numba\n"
            "x = md.tensor(np.ones((1, 1, 5, 5), np.float32), requires_grad=True)\n"
            "w = md.tensor(np.ones((2, 1, 3, 3), np.float32), requires_grad=True)\n"
            "F.max_pool2d(F.relu(F.conv2d(x, w)), 2).sum().backward()\n"
            "print(json.dumps([use_numba(np.ones(3)), 'numba' in sys.modules]))")
    assert json.loads(_run("import json\n" + code, MINIDL_NUMBA="0")) == [False, False]
    assert json.loads(_run("import json\n" + code, MINIDL_NUMBA="1")) == [True, True]


def test_use_numba_takes_float_numpy_arrays_only():
    if not dispatch.numba_enabled():  # the suite itself runs with MINIDL_NUMBA=0
        assert not dispatch.use_numba(np.ones(2))
        return
    assert dispatch.use_numba(np.ones(2, np.float32), np.ones(2))
    assert not dispatch.use_numba(np.ones(2, np.int64))
    assert not dispatch.use_numba(np.ones(2), None)
    assert not dispatch.use_numba([1.0, 2.0])


def test_set_numba_enabled_switches_at_run_time():
    before = dispatch.set_numba_enabled(False)
    try:
        assert not dispatch.use_numba(np.ones(2))
    finally:
        dispatch.set_numba_enabled(before)
    assert dispatch.numba_enabled() == before


def test_second_process_loads_compiled_kernels_from_the_cache(tmp_path):
    """First process compiles and writes index files; the second hits the cache only. The
    serial and the parallel build of one kernel keep separate cache entries."""
    code = ("import json, numpy as np\n"
            "from minidl.kernels import _route\n"
            "from minidl.kernels.activation import cpu as k\n"
            "x = np.array([-1.0, 2.0, np.nan], np.float32)\n"
            "ys = [k.relu_forward(x)[0]]\n"  # small: the serial build
            "_route.TUNING['MINIDL_ELEMENTWISE_PARALLEL_MIN'] = 0\n"
            "ys.append(k.relu_forward(x)[0])\n"  # the parallel build
            "stats = [k._relu_forward.serial.stats, k._relu_forward.parallel.stats]\n"
            "print(json.dumps([[sum(s.cache_hits.values()), sum(s.cache_misses.values())] for s in stats]\n"
            "                 + [np.array_equal(ys[0], ys[1], equal_nan=True)]))")
    env = {"NUMBA_CACHE_DIR": str(tmp_path)}
    assert json.loads(_run(code, **env)) == [[0, 1], [0, 1], True]
    assert len(list(tmp_path.rglob("*relu_forward*.nbi"))) == 2  # one index per build
    assert list(tmp_path.rglob("*.nbc"))
    assert json.loads(_run(code, **env)) == [[1, 0], [1, 0], True]
