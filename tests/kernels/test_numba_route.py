"""The Numba route: lazy import, MINIDL_KERNELS=reference (and its deprecated alias
MINIDL_NUMBA=0), which arrays go to the kernels, and the on-disk JIT cache (a second
process loads the machine code instead of compiling)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from minidl.kernels import _numba, _route

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, **env: str) -> str:
    full = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=full, capture_output=True,
                         text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1]


def test_import_minidl_does_not_import_numba():
    assert _run("import sys, minidl; print('numba' in sys.modules)") == "False"


def test_reference_mode_runs_without_numba():
    code = ("import json, sys, numpy as np, minidl as md, minidl.functional as F\n"
            "from minidl.kernels import route\n"
            "x = md.tensor(np.ones((1, 1, 5, 5), np.float32), requires_grad=True)\n"
            "w = md.tensor(np.ones((2, 1, 3, 3), np.float32), requires_grad=True)\n"
            "F.max_pool2d(F.relu(F.conv2d(x, w)), 2).sum().backward()\n"
            "print(json.dumps([route(np.ones(3)), 'numba' in sys.modules]))")
    assert json.loads(_run(code, MINIDL_KERNELS="reference")) == ["reference", False]
    assert json.loads(_run(code, MINIDL_KERNELS="auto")) == ["cpu", True]
    # the deprecated spelling still works
    assert json.loads(_run(code, MINIDL_KERNELS="", MINIDL_NUMBA="0")) == ["reference", False]


def test_route_takes_contiguous_float_numpy_arrays_of_one_dtype():
    if _route.kernels_mode() == "reference":  # this leg of the suite runs the references
        assert _route.route(np.ones(2)) == "reference"
        return
    assert _route.route(np.ones(2, np.float32), None, np.ones(3, np.float32)) == "cpu"
    assert _route.route(np.ones(2, np.float32), np.ones(2)) == "reference"  # mixed dtypes
    assert _route.route(np.ones(2, np.int64)) == "reference"
    assert _route.route(np.ones((3, 4))[:, ::2]) == "reference"  # not contiguous
    assert _route.route(None) == "reference"
    assert _route.route([1.0, 2.0]) == "reference"


def test_set_kernels_switches_at_run_time():
    before = _route.set_kernels("reference")
    try:
        assert _route.route(np.ones(2)) == "reference"
    finally:
        _route.set_kernels(before)
    assert _route.kernels_mode() == before


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


def test_a_first_run_says_it_compiles_and_a_cached_run_says_nothing(tmp_path):
    code = ("import numpy as np\n"
            "from minidl.kernels import _numba\n"
            "_numba.NOTICE_AFTER_S = float(__import__('sys').argv[1])\n"
            "from minidl.kernels.pool import cpu as k\n"
            "k.maxpool(np.ones((1, 1, 4, 4), np.float32), 2, 2, 2, 2, 0, 0)\n"
            "k.maxpool(np.ones((1, 1, 4, 4), np.float32), 3, 3, 1, 1, 0, 0)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_CACHE_DIR": str(tmp_path)}

    def stderr(delay: str) -> str:
        out = subprocess.run([sys.executable, "-c", code, delay], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120, check=True)
        return out.stderr

    compiling = stderr("0.05")  # a compile takes far longer than 50 ms
    assert compiling.count(_numba.NOTICE) == 1  # two kernels compiled, said once
    assert _numba.NOTICE not in stderr("0.5")  # loaded from the cache: nothing to say
