"""Backend selection (numpy/cupy and aliases), MINIDL_BACKEND, lazy CuPy, device checks."""
from __future__ import annotations

import importlib.util
import operator
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import minidl as md
import minidl.functional as F
from minidl import backend as B
from tests.conftest import EMULATED_GPU

ROOT = Path(__file__).resolve().parents[2]
HAS_CUPY = importlib.util.find_spec("cupy") is not None
INSTALL_HINT = 'pip install "minidl[gpu]"'


def run_python(code: str, env_extra: dict[str, str] | None = None, extra_path: Path | None = None):
    """Run code in a fresh interpreter (so import-time behaviour is observable)."""
    env = {k: v for k, v in os.environ.items() if k != "MINIDL_BACKEND"}
    # the CuPy emulator's folder stays on the path when this run uses it
    emulator = os.environ["PYTHONPATH"].split(os.pathsep)[0] if EMULATED_GPU else None
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (extra_path, emulator, ROOT) if p is not None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


# ---- names and aliases ---------------------------------------------------------------------

@pytest.mark.parametrize("alias", ["numpy", "cpu", "NumPy", "CPU"])
def test_numpy_aliases(alias):
    md.set_backend(alias)
    assert md.get_backend() == "numpy"
    assert md.zeros(2).device == "cpu" and md.tensor([1.0]).device == "cpu"


@pytest.mark.parametrize("alias", ["cupy", "cuda", "gpu"])
def test_cupy_aliases(alias):
    md.set_backend("numpy")
    if md.cuda_available():
        md.set_backend(alias)
        assert md.get_backend() == "cupy"
        assert md.zeros(2).device == "cuda"
    else:
        with pytest.raises(md.BackendUnavailableError) as info:
            md.set_backend(alias)
        assert INSTALL_HINT in str(info.value) or "GPU" in str(info.value)
        assert md.get_backend() == "numpy"  # unchanged by the failed switch


def test_cupy_missing_message_says_how_to_install():
    if HAS_CUPY:
        pytest.skip("CuPy is installed here: the not-installed message cannot be produced")
    assert not md.cuda_available()
    with pytest.raises(md.BackendUnavailableError) as info:
        md.set_backend("cupy")
    msg = str(info.value)
    assert "CuPy is not installed" in msg and INSTALL_HINT in msg
    with pytest.raises(md.BackendUnavailableError, match="minidl\\[gpu\\]"):
        md.tensor([1.0]).to("cuda")
    with pytest.raises(md.BackendUnavailableError):
        md.zeros(2, device="gpu")


def test_error_classes():
    assert issubclass(md.BackendUnavailableError, RuntimeError)
    assert issubclass(md.DeviceMismatchError, ValueError)


def test_unknown_backend_name():
    with pytest.raises(ValueError, match="tpu"):
        md.set_backend("tpu")


def test_default_backend_decides_where_new_tensors_live(backend):
    md.set_backend(backend)
    device = "cuda" if backend == "cupy" else "cpu"
    for t in (md.tensor([1.0]), md.zeros(2), md.ones(2), md.randn(2), md.rand(2), md.arange(3)):
        assert t.device == device
    assert md.tensor([1.0], device="cpu").device == "cpu"


# ---- import-time behaviour (fresh interpreters) ---------------------------------------------

def test_minidl_backend_env_cpu():
    for name in ("cpu", "numpy"):
        r = run_python("import minidl as md; print(md.get_backend())", {"MINIDL_BACKEND": name})
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "numpy"
    r = run_python("import minidl as md; print(md.get_backend())")
    assert r.stdout.strip() == "numpy"


def test_minidl_backend_env_cupy():
    r = run_python("import minidl as md; print(md.get_backend())", {"MINIDL_BACKEND": "cupy"})
    if md.cuda_available():
        assert r.returncode == 0 and r.stdout.strip() == "cupy"
    else:
        assert r.returncode != 0
        assert "BackendUnavailableError" in r.stderr and INSTALL_HINT in r.stderr or "GPU" in r.stderr
        assert "MINIDL_BACKEND='cupy'" in r.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("value", ["tpu", "bogus"])
def test_minidl_backend_env_unknown_name(value):
    r = run_python("import minidl", {"MINIDL_BACKEND": value})
    assert r.returncode != 0
    # the exception's own message (the traceback's last line) names the variable, the value
    # and every accepted name
    message = r.stderr.strip().splitlines()[-1]
    assert message.startswith("ValueError: ") and "MINIDL_BACKEND" in message
    assert repr(value) in message
    for allowed in ("numpy", "cpu", "cupy", "cuda", "gpu"):
        assert repr(allowed) in message


FAKE_CUPY = """
class ndarray:
    pass


class _Runtime:
    @staticmethod
    def getDeviceCount():
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")


class cuda:
    runtime = _Runtime
"""


def test_cupy_is_imported_only_when_asked_for(tmp_path):
    # a stand-in CuPy that is importable but sees no GPU: importing it is observable everywhere
    (tmp_path / "cupy").mkdir()
    (tmp_path / "cupy" / "__init__.py").write_text(FAKE_CUPY)
    r = run_python("""
        import sys
        import minidl as md
        import minidl.functional as F
        md.manual_seed(0)
        x = md.randn(3, 4, requires_grad=True)
        loss = F.log_softmax(x @ md.ones(4, 2)).sum() + md.where(x > 0, x, 0.0).sum()
        loss.backward()
        print("before", "cupy" in sys.modules)
        print("available", md.cuda_available())
        print("after", "cupy" in sys.modules)
        try:
            md.set_backend("gpu")
        except md.BackendUnavailableError as exc:
            print("error", exc)
        print("backend", md.get_backend())
    """, extra_path=tmp_path)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "before False" in out
    assert "available False" in out and "after True" in out  # the stand-in was found when asked
    assert "error" in out and "GPU" in out
    assert "backend numpy" in out


def test_cuda_available_is_false_without_cupy():
    if HAS_CUPY:
        pytest.skip("CuPy is installed here")
    assert md.cuda_available() is False


# ---- ops take their array module from the inputs ---------------------------------------------

def test_ops_never_read_the_default_backend(monkeypatch):
    x = md.tensor(np.array([[1.0, -2.0], [3.0, 4.0]]), requires_grad=True)
    # a default nobody may consult: ops must follow their inputs (NumPy here)
    monkeypatch.setattr(B, "_default", "cupy")
    outs = [x + 1, 2.0 * x, x @ x, x.T, x[0], x[np.array([1, 1])], x.sum(axis=0), x.max(),
            F.softmax(x), F.log_softmax(x), F.relu(x), F.sigmoid(x), md.where(x > 0, x, 0.0),
            md.concatenate([x, x]), md.stack([x, x]), x ** 2, 2 ** x, x.exp(), x.mean()]
    total = outs[0].sum()
    for o in outs[1:]:
        assert isinstance(o.data, np.ndarray)
        total = total + o.sum()
    total.backward()
    assert isinstance(x.grad.data, np.ndarray)


# ---- device checks (a second device is simulated by patching device_of) ----------------------

@pytest.fixture
def on_fake_gpu(monkeypatch):
    """Make one tensor report device "cuda" (there is no GPU here to put it on)."""
    real = B.device_of

    def make(t: md.Tensor) -> md.Tensor:
        arr = t.data
        monkeypatch.setattr(B, "device_of", lambda a: "cuda" if a is arr else real(a))
        return t
    return make


@pytest.mark.parametrize("op, name", [(operator.add, "Add"), (operator.sub, "Sub"), (operator.mul, "Mul"),
                                      (operator.truediv, "Div"), (operator.matmul, "MatMul"),
                                      (operator.pow, "Pow")])
def test_mixing_devices_names_op_and_both_devices(on_fake_gpu, op, name):
    a = md.tensor([[1.0, 2.0], [3.0, 4.0]])
    b = on_fake_gpu(md.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert b.device == "cuda" and a.device == "cpu"
    with pytest.raises(md.DeviceMismatchError) as info:
        op(a, b)
    msg = str(info.value)
    assert name in msg and "cpu" in msg and "cuda" in msg
    assert isinstance(info.value, ValueError)


def test_mixing_devices_in_other_ops(on_fake_gpu):
    a = md.tensor([1.0, 2.0], requires_grad=True)
    b = on_fake_gpu(md.tensor([3.0, 4.0]))
    for fn in (lambda: md.concatenate([a, b]), lambda: md.stack([a, b]), lambda: md.where(a > 0, a, b),
               lambda: a < b, lambda: a == b):
        with pytest.raises(md.DeviceMismatchError, match="cuda"):
            fn()
    with pytest.raises(md.DeviceMismatchError, match="cuda"):
        (a * 2).backward(b)  # a gradient on another device
    index = on_fake_gpu(md.tensor([0, 1]))  # now the index array is the one "on the GPU"
    with pytest.raises(md.DeviceMismatchError, match="GetItem"):
        a[index]


# ---- helpers in minidl.backend ----------------------------------------------------------------

def test_backend_helpers(backend):
    xp = B.module_for(backend)
    arr = xp.arange(3.0)
    assert B.array_module(arr) is xp and B.array_module([1, 2], 3.0) is np
    assert B.device_of(arr) == ("cuda" if backend == "cupy" else "cpu")
    assert B.to_backend(arr, backend) is arr
    host = B.to_numpy(arr)
    assert isinstance(host, np.ndarray) and host.tolist() == [0.0, 1.0, 2.0]
    assert B.is_array(arr) and B.is_array(np.float64(1.0)) and not B.is_array([1.0])
    assert B.normalize_backend("GPU") == "cupy" and B.normalize_backend("cpu") == "numpy"
    assert B.backend_of_device("cuda") == "cupy" and B.backend_of_device("cpu") == "numpy"


def test_scatter_add_accumulates_repeated_indices(backend):
    xp = B.module_for(backend)
    target = xp.zeros((3, 2))
    B.scatter_add(target, (xp.asarray([0, 2, 0]),), xp.ones((3, 2)))
    assert B.to_numpy(target).tolist() == [[2.0, 2.0], [0.0, 0.0], [1.0, 1.0]]


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.int8])
def test_scatter_add_of_whole_rows_equals_add_at(dtype):
    # the row path flattens ids into element indices: narrow, negative and repeated ids
    # must pick the rows NumPy's own add.at picks, summed in the same order
    rng = np.random.default_rng(0)
    low = 0 if np.dtype(dtype).kind == "u" else -100
    ids = rng.integers(low, 100, (6, 40)).astype(dtype)
    values = rng.standard_normal((6, 40, 3, 5)).astype(np.float32)
    want = np.zeros((120, 3, 5), np.float32)
    np.add.at(want, ids, values)
    got = np.zeros((120, 3, 5), np.float32)
    B.scatter_add(got, ids, values)
    assert np.array_equal(got, want)
