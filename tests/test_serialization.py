"""md.save / md.load: nesting, keys and dtypes round-trip; atomic writes; clear errors."""
from __future__ import annotations

import io
import json
import os
import signal
import stat
import struct
import subprocess
import sys
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

import minidl as md
from minidl import optim
from tests.optim.common import TinyNet, batch, train

ROOT = Path(__file__).resolve().parents[1]


def nested_state() -> dict:
    return {
        "model": OrderedDict([("0.weight", np.arange(6, dtype=np.float32).reshape(2, 3)),
                              ("0.bias", np.array([1.5, -2.5])),
                              ("lstm.weight_ih_l0", np.ones((1, 4), dtype=np.float64))]),
        "counts": {"ids": np.array([1, 2, 3], dtype=np.int64), "mask": np.array([True, False]),
                   "pixels": np.zeros((2, 2), dtype=np.uint8), "scalar0d": np.array(7.25)},
        "optimizer": {"state": {0: {"step": 3, "exp_avg": np.full(2, 0.5)}},
                      "param_groups": [{"lr": 0.01, "betas": (0.9, 0.999), "nesterov": False,
                                        "params": [0, 1]}]},
        "epoch": 12, "loss": 0.125, "name": "run/1", "note": None, "np_scalar": np.float32(2.5),
        "a/b": np.array([1.0]), "a%2Fb": np.array([2.0]), 3: "int key", "3": "str key",
        "": {"empty": []},
    }


def assert_same(a, b, where="state"):
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        assert [type(k) for k in a] == [type(k) for k in b], f"{where}: key types differ"
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert a == b, where


def test_round_trip_keeps_nesting_keys_types_and_dtypes(tmp_path):
    state = nested_state()
    md.save(state, tmp_path / "state.npz")
    assert_same(md.load(tmp_path / "state.npz"), state)


def test_file_is_a_plain_npz_without_pickle(tmp_path):
    path = str(tmp_path / "state.npz")
    md.save(nested_state(), path)
    with np.load(path, allow_pickle=False) as npz:
        assert "data/model/0.weight" in npz.files and "manifest" in npz.files
        assert "data/a%2Fb" in npz.files and "data/a%252Fb" in npz.files
        np.testing.assert_array_equal(npz["data/counts/ids"], [1, 2, 3])


def test_path_is_used_as_given(tmp_path):
    path = tmp_path / "checkpoint"
    md.save({"x": 1.0}, path)
    assert os.listdir(tmp_path) == ["checkpoint"]
    assert md.load(str(path)) == {"x": 1.0}


def test_tensors_and_device_arrays_come_back_as_numpy(backend, tmp_path):
    t = md.tensor([[1.0, 2.0]], dtype="float64", device=backend)
    md.save({"t": t, "raw": t.data, "param": md.nn.Parameter(t)}, tmp_path / "t.npz")
    back = md.load(tmp_path / "t.npz")
    for key in ("t", "raw", "param"):
        assert isinstance(back[key], np.ndarray) and back[key].dtype == np.float64
        np.testing.assert_array_equal(back[key], [[1.0, 2.0]])


def test_model_round_trip_gives_identical_outputs(backend, tmp_path):
    model = TinyNet(seed=0, backend=backend)
    train(model, optim.Adam(model.parameters(), lr=0.1), range(2), backend)
    md.save(model.state_dict(), tmp_path / "model.npz")
    loaded = md.load(tmp_path / "model.npz")
    assert isinstance(loaded, OrderedDict) and list(loaded) == ["w", "b", "v"]
    other = TinyNet(seed=5, backend=backend)
    other.load_state_dict(loaded)
    x, _ = batch(0, backend)
    np.testing.assert_array_equal(model(x).numpy(), other(x).numpy())


def test_optimizer_state_dict_round_trip_keeps_int_keys(tmp_path):
    model = TinyNet()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    train(model, opt, range(2))
    md.save(opt.state_dict(), tmp_path / "opt.npz")
    back = md.load(tmp_path / "opt.npz")
    assert_same(back, opt.state_dict())
    assert list(back["state"]) == [0, 1, 2]


def test_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    md.save({"w": np.ones(3)}, path)

    def broken_savez(file, *args, **kwargs):
        file.write(b"partial garbage")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        md.save({"w": np.zeros(3)}, path)
    assert os.listdir(tmp_path) == ["ckpt.npz"]
    monkeypatch.undo()
    np.testing.assert_array_equal(md.load(path)["w"], np.ones(3))


def test_unsupported_values_raise_before_anything_is_written(tmp_path):
    with pytest.raises(TypeError, match="'bad' is a set"):
        md.save({"ok": 1, "bad": {1, 2}}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="keys must be str or int"):
        md.save({(1, 2): np.ones(1)}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="object array"):
        md.save({"o": np.array([None, 1], dtype=object)}, tmp_path / "x.npz")
    assert os.listdir(tmp_path) == []


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        md.load(tmp_path / "nope.npz")


@pytest.mark.parametrize("keep", [0, 10, 100, 0.5, -30, -1])
def test_truncated_file_raises_value_error_with_path(tmp_path, keep):
    path = tmp_path / "ckpt.npz"
    md.save(nested_state(), path)
    data = path.read_bytes()
    cut = int(len(data) * keep) if isinstance(keep, float) else keep
    path.write_bytes(data[:cut])
    with pytest.raises(ValueError, match=str(path).replace("\\", "\\\\")):
        md.load(path)


def _random_bytes(path):
    path.write_bytes(np.random.default_rng(0).bytes(500))


def _plain_npz(path):
    with open(path, "wb") as f:
        np.savez(f, weight=np.ones(3))


def _npy(path):
    with open(path, "wb") as f:
        np.save(f, np.ones(3))


def _text_zip(path):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("manifest.npy", "not an array")


def _manifest_without_array(path):
    md.save({"w": np.ones(2), "v": np.ones(1)}, path)
    with np.load(path) as npz:
        kept = {k: npz[k] for k in npz.files if k != "data/w"}
    with open(path, "wb") as f:
        np.savez(f, **kept)


def _array_not_in_manifest(path):
    md.save({"w": np.ones(2)}, path)
    with np.load(path) as npz:
        kept = {k: npz[k] for k in npz.files}
    with open(path, "wb") as f:
        np.savez(f, **kept, extra=np.zeros(1))


def _foreign_manifest(path):
    with open(path, "wb") as f:
        np.savez(f, manifest=np.frombuffer(b'{"hello": 1}', dtype=np.uint8))


def _pickled_object_array(path):
    with open(path, "wb") as f:
        np.savez(f, manifest=np.array([{"a": 1}], dtype=object))


@pytest.mark.parametrize("write", [_random_bytes, _plain_npz, _npy, _text_zip, _manifest_without_array,
                                   _array_not_in_manifest, _foreign_manifest, _pickled_object_array])
def test_foreign_files_raise_value_error_with_path(tmp_path, write):
    path = tmp_path / "foreign.npz"
    write(path)
    with pytest.raises(ValueError, match="foreign.npz"):
        md.load(path)


# ---- crafted and corrupt files: always ValueError naming the path ---------------------------

def _manifest_bytes(tree) -> bytes:
    return json.dumps({"format": "minidl-state", "version": 1, "tree": tree}).encode()


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, allow_pickle=False)
    return buf.getvalue()


def _write_zip(path, members: dict[str, bytes]) -> None:
    """A well-formed .npz (valid CRCs) holding exactly these .npy members."""
    with zipfile.ZipFile(path, "w") as z:
        for name, raw in members.items():
            z.writestr(f"{name}.npy", raw)


def _array_header_claiming(shape, descr="<f8") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _checkpoint_with_huge_header(path, shape=(7 * 10**12 // 8,), descr="<f8", payload=b"\0" * 16):
    tree = {"t": "dict", "items": [[["s", "w"], {"t": "array", "name": "data/w"}]]}
    _write_zip(path, {"manifest": _npy_bytes(np.frombuffer(_manifest_bytes(tree), np.uint8)),
                      "data/w": _array_header_claiming(shape, descr) + payload})


def _central_directory_offset(data: bytes) -> int:
    return data.find(b"PK\x01\x02")


def _corrupt_compression_method(path):
    md.save({"w": np.ones(3)}, path)
    data = bytearray(path.read_bytes())
    data[_central_directory_offset(data) + 10] = 99  # compression method: no such method
    path.write_bytes(bytes(data))


def _corrupt_encryption_flag(path):
    md.save({"w": np.ones(3)}, path)
    data = bytearray(path.read_bytes())
    data[_central_directory_offset(data) + 8] |= 1  # general purpose flag: "encrypted"
    path.write_bytes(bytes(data))


def _corrupt_member_size(path):
    md.save({"w": np.ones(3)}, path)
    data = bytearray(path.read_bytes())
    cd = _central_directory_offset(data)
    data[cd + 20:cd + 28] = struct.pack("<II", 0x7FFFFFFF, 0x7FFFFFFF)  # sizes: 2 GB each
    path.write_bytes(bytes(data))


def _huge_array_header(path):
    _checkpoint_with_huge_header(path)  # 7 TB of float64 claimed, 16 bytes present


def _huge_header_with_shape_overflowing_int64(path):
    _checkpoint_with_huge_header(path, shape=(2**40, 2**40))


def _negative_shape(path):
    _checkpoint_with_huge_header(path, shape=(-2,), payload=b"")


def _zero_byte_elements(path):
    _checkpoint_with_huge_header(path, shape=(10**12,), descr="|S0", payload=b"")


def _object_dtype_member(path):
    _checkpoint_with_huge_header(path, shape=(1,), descr="|O", payload=b"\0" * 8)


def _deeply_nested_json(path):
    deep = "[" * 100_000 + "]" * 100_000
    raw = b'{"format": "minidl-state", "version": 1, "tree": ' + deep.encode() + b"}"
    _write_zip(path, {"manifest": _npy_bytes(np.frombuffer(raw, np.uint8))})


def _deeply_nested_tree(path, depth=300):
    tree = {"t": "value", "v": 1}
    for _ in range(depth):  # shallow enough for json, too deep for a state dict
        tree = {"t": "list", "items": [tree]}
    _write_zip(path, {"manifest": _npy_bytes(np.frombuffer(_manifest_bytes(tree), np.uint8))})


def _member_not_npy(path):
    md.save({"w": np.ones(3)}, path)
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("notes.txt", b"hello")


@pytest.mark.parametrize("write", [_corrupt_compression_method, _corrupt_encryption_flag,
                                   _corrupt_member_size, _huge_array_header,
                                   _huge_header_with_shape_overflowing_int64, _negative_shape,
                                   _zero_byte_elements, _object_dtype_member, _deeply_nested_json,
                                   _deeply_nested_tree, _member_not_npy])
def test_crafted_files_raise_value_error_with_path(tmp_path, write):
    path = tmp_path / "crafted.npz"
    write(path)
    with pytest.raises(ValueError, match="crafted.npz"):
        md.load(path)


def test_state_nested_deeper_than_load_accepts_is_refused_by_save(tmp_path):
    deep: list = [np.ones(1)]
    for _ in range(99):
        deep = [deep]
    md.save(deep, tmp_path / "ok.npz")  # 100 levels of containers: fine both ways
    back = md.load(tmp_path / "ok.npz")
    for _ in range(99):
        back = back[0]
    np.testing.assert_array_equal(back[0], np.ones(1))
    with pytest.raises(ValueError, match=r"md.save: .*nested deeper than 100"):
        md.save([deep], tmp_path / "deep.npz")
    assert sorted(os.listdir(tmp_path)) == ["ok.npz"]


# ---- files that are not regular files --------------------------------------------------------

def test_directory_raises_value_error_with_path(tmp_path):
    folder = tmp_path / "ckpt.npz"
    folder.mkdir()
    with pytest.raises(ValueError, match=r"ckpt.npz.*is a directory"):
        md.load(folder)


@pytest.mark.timeout(60)  # today's bug is a hang: fail instead of waiting 5 minutes
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need POSIX")
def test_named_pipe_raises_value_error_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)  # nobody writes: opening it for reading would block
    with pytest.raises(ValueError, match=r"pipe.npz.*not a regular file"):
        md.load(fifo)


@pytest.mark.timeout(60)
@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_device_file_raises_value_error_without_hanging():
    with pytest.raises(ValueError, match=r"/dev/zero.*not a regular file"):
        md.load("/dev/zero")


# ---- the umask and temporaries left by killed saves -------------------------------------------

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes and signals as on POSIX")


def test_save_never_sets_the_umask(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(os, "umask", lambda mask: calls.append(mask) or 0o022)
    md.save({"w": np.ones(2)}, tmp_path / "ckpt.npz")
    assert calls == []  # setting it, even briefly, changes it for every other thread


@posix_only
@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002, 0o027])
def test_saved_file_mode_follows_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        md.save({"w": np.ones(2)}, tmp_path / "ckpt.npz")
        md.save({"w": np.ones(2)}, tmp_path / "ckpt.npz")  # replacing a file too
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "ckpt.npz").st_mode) == 0o666 & ~mask


STUCK_SAVER = """
import os, sys, threading, time
import numpy as np
import minidl as md

def stuck_savez(file, *args, **kwargs):  # writes a little, then hangs mid-write
    file.write(b"partial")
    file.flush()
    os.write(1, b"writing\\n")  # one system call: the two threads' lines never interleave
    time.sleep(600)

np.savez = stuck_savez
threading.Thread(target=md.save, args=({"w": np.zeros(2)}, sys.argv[1]), daemon=True).start()
md.save({"w": np.zeros(2)}, sys.argv[2])
"""


def _temporaries(folder):
    return sorted(name for name in os.listdir(folder) if name.endswith(".tmp"))


@posix_only
@pytest.mark.timeout(120)
def test_next_save_removes_temporaries_of_killed_saves_to_that_path_only(tmp_path):
    ckpt, other = tmp_path / "ckpt.npz", tmp_path / "other.npz"
    # names that are not a save's temporary for ckpt.npz on this host
    unrelated = [tmp_path / ".ckpt.npz.notes", tmp_path / ".ckpt.npz.a1b2c3d4.tmp"]
    for path in unrelated:
        path.write_bytes(b"keep me")
    child = subprocess.Popen([sys.executable, "-c", STUCK_SAVER, str(ckpt), str(other)],
                             stdout=subprocess.PIPE, text=True, cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert [child.stdout.readline() for _ in range(2)] == ["writing\n"] * 2
        left = set(_temporaries(tmp_path)) - {p.name for p in unrelated}
        assert len(left) == 2  # one per target, both being written by a live process
        md.save({"w": np.ones(2)}, ckpt)
        assert set(_temporaries(tmp_path)) >= left  # a live writer's temporary is not touched
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    md.save({"w": np.ones(2)}, ckpt)
    remaining = _temporaries(tmp_path)
    assert [name for name in remaining if name.startswith(".ckpt.npz.") and name in left] == []
    assert [name for name in remaining if name.startswith(".other.npz.")] == \
        [name for name in left if name.startswith(".other.npz.")]  # another target's: kept
    assert all(path.read_bytes() == b"keep me" for path in unrelated)
    np.testing.assert_array_equal(md.load(ckpt)["w"], np.ones(2))


# ---- fuzz: every byte of a small checkpoint, corrupted three ways --------------------------

def test_every_corrupted_byte_raises_value_error_with_path_or_loads_identical_data(tmp_path):
    path = tmp_path / "fuzz.npz"
    state = {"w": np.arange(3, dtype=np.float32), "step": 2}
    md.save(state, path)
    good = path.read_bytes()
    assert len(good) < 1000  # a small checkpoint keeps this fast
    loaded = refused = 0
    for i, byte in enumerate(good):
        for value in (byte ^ 0xFF, 0x00, 0xFF):  # every bit flipped, cleared, set
            if value == byte:
                continue
            path.write_bytes(good[:i] + bytes([value]) + good[i + 1:])
            try:
                back = md.load(path)
            except ValueError as exc:
                assert str(path) in str(exc), f"byte {i} set to {value:#04x}: {exc}"
                refused += 1
                continue
            except Exception as exc:  # noqa: BLE001 - any other error is the bug this looks for
                pytest.fail(f"byte {i} set to {value:#04x}: {type(exc).__name__}: {exc}")
            assert_same(back, state, f"byte {i} set to {value:#04x}")
            loaded += 1
    assert refused > 0 and loaded > 0  # both outcomes happen: the corruption reached the reader


def test_arrays_of_every_layout_and_dtype_round_trip(tmp_path):
    # md.load reads the .npy members itself: what np.load gives back, it gives back
    arrays = {
        "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        "big": np.arange(3 * 2**18, dtype=np.float64),  # several read chunks
        "empty": np.zeros((0, 3), dtype=np.float32), "zero_d": np.array(5, dtype=np.int16),
        "big_endian": np.arange(4, dtype=">f4"), "half": np.ones(3, dtype=np.float16),
        "complex": np.array([1 + 2j, -3j]), "unicode": np.array(["a", "bcd"]),
        "bytes": np.array([b"xy", b""]), "dates": np.array(["2024-01-02"], dtype="M8[D]"),
        "record": np.array([(1, (2.0, 3.0))], dtype=[("a", "<i4"), ("b", "<f8", (2,))]),
        "bool": np.array([[True], [False]]),
    }
    path = tmp_path / "dtypes.npz"
    md.save(arrays, path)
    back = md.load(path)
    with np.load(path, allow_pickle=False) as npz:
        for key, value in arrays.items():
            assert back[key].flags.writeable
            assert back[key].flags.f_contiguous == npz[f"data/{key}"].flags.f_contiguous
            assert back[key].dtype == value.dtype and back[key].shape == value.shape, key
            np.testing.assert_array_equal(back[key], value, err_msg=key)
