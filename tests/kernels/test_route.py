"""minidl.kernels._route: the lazy Numba import survives an interrupt; retired tuning
names are not ignored silently."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter (this one has Numba imported already). A meta-path finder
# raises KeyboardInterrupt once, when Numba's own import reaches numba.core.typing.builtins: by then
# numba.core and dozens of its modules are in sys.modules, as after a real Ctrl-C
# during the first kernel call.
_INTERRUPTED_IMPORT = textwrap.dedent("""
    import sys
    import numpy as np

    class CtrlC:
        fired = False
        def find_spec(self, name, path=None, target=None):
            if name == "numba.core.typing.builtins" and not CtrlC.fired:
                CtrlC.fired = True
                raise KeyboardInterrupt
            return None

    sys.meta_path.insert(0, CtrlC())
    from minidl.kernels import _route
    import minidl.functional as F
    import minidl as md

    try:
        _route.numba_available()
    except KeyboardInterrupt:
        print("interrupted")
    else:
        print("not interrupted")
    assert CtrlC.fired
    print("available", _route.numba_available())
    x = np.arange(32, dtype=np.float32).reshape(1, 2, 4, 4)
    print("route", _route.route(x))
    y = F.max_pool2d(md.tensor(x), 2).numpy()
    print("pool ok", bool((y == x.reshape(1, 2, 2, 2, 2, 2).max(axis=(3, 5))).all()))
""")


def _run(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True,
                          timeout=240, env={**_env(), "PYTHONPATH": str(PROJECT)})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines()


def _env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    for var in ("MINIDL_KERNELS", "MINIDL_NUMBA"):  # this check is about the fast path
        env.pop(var, None)
    return env


def test_interrupted_numba_import_is_retried_cleanly():
    # the KeyboardInterrupt reaches the caller; the next call imports Numba afresh
    # (no half-imported modules left behind, no cached False) and kernels run
    assert _run(_INTERRUPTED_IMPORT) == ["interrupted", "available True", "route cpu", "pool ok True"]


def test_a_retired_tuning_name_is_not_ignored_silently(monkeypatch):
    """MINIDL_DIRECT_CONV_MAX_PATCH (a patch size) gave way to MINIDL_DIRECT_CONV_MAX_WEIGHTS
    (a weight count): a user who still sets it hears so, and the table keeps its default."""
    import pytest  # noqa: PLC0415

    from minidl.kernels import _route  # noqa: PLC0415

    monkeypatch.setenv("MINIDL_DIRECT_CONV_MAX_PATCH", "288")
    with pytest.warns(UserWarning, match="MINIDL_DIRECT_CONV_MAX_PATCH is no longer read.*"
                                         "MINIDL_DIRECT_CONV_MAX_WEIGHTS"):
        table = _route._read_tuning()
    assert table["MINIDL_DIRECT_CONV_MAX_WEIGHTS"] == _route._TUNING_DEFAULTS["MINIDL_DIRECT_CONV_MAX_WEIGHTS"]
