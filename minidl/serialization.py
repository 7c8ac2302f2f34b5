"""md.save / md.load: nested state dicts in a plain `.npz`, written atomically, no pickle.

Layout of the file: every array leaf is stored under its path, "data/" followed by the
keys joined with "/" (each key escaped: "%" -> "%25", "/" -> "%2F", so dotted names
such as "0.weight" are kept as they are). The entry "manifest" is a UTF-8 JSON document
(as uint8 bytes) describing the whole tree: containers (dict, OrderedDict, list, tuple),
key types (str or int) and the leaves that are Python numbers, strings, bools or None,
so `load` returns the same nesting, keys and types. NumPy scalars come back as NumPy
scalars, CuPy arrays and Tensors as NumPy arrays.

`load` trusts nothing in the file: members are read by minidl itself (stored, not
compressed, .npy headers checked against the bytes really there before anything is
allocated), containers nest at most 100 deep, and only regular files are opened.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import secrets
import stat
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np

from minidl import backend as B
from minidl.autograd.tensor import Tensor

_FORMAT = "minidl-state"
_VERSION = 1
_MANIFEST = "manifest"
_ROOT = "data"
_MAX_DEPTH = 100  # containers inside containers; state dicts nest a handful deep
_CHUNK = 1 << 20  # bytes read at a time into an array's buffer

PathLike = str | os.PathLike


# ---- save ----------------------------------------------------------------------------

def save(state: Any, path: PathLike) -> None:
    """Write `state` (nested dicts/lists of arrays, Tensors and numbers; keys str or int)
    to `path` as a `.npz`. The file appears complete or not at all: it is written to a
    temporary file in the same folder and renamed over `path`. Temporaries left by saves
    to the same path that were killed mid-write are removed first."""
    path = os.fspath(path)
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(state, _ROOT, arrays, 0)
    manifest = json.dumps({"format": _FORMAT, "version": _VERSION, "tree": tree})
    arrays[_MANIFEST] = np.frombuffer(manifest.encode("utf-8"), dtype=np.uint8)
    folder, base = os.path.split(os.path.abspath(path))
    _remove_stale_temporaries(folder, base)
    fd, tmp = _create_temporary(folder, base)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


# Temporaries are named ".<target>.<host>.<pid>.<8 hex>.tmp": the pid says whether the save
# that made one is still running, the host makes that question meaningful on a folder shared
# between machines (a pid means nothing on another host).

def _host() -> str:
    import socket  # noqa: PLC0415 - on a save only: import minidl stays lighter

    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:64] or "host"


def _create_temporary(folder: str, base: str) -> tuple[int, str]:
    """A new, empty temporary file for `base` in `folder`, as (descriptor, path).

    It is created with mode 0o666 like any `open(path, "w")`, so the kernel applies the
    process umask (and a default ACL of the folder) itself: the file gets a normal file's
    mode without minidl reading the umask, which can only be done by setting it
    (os.umask), a race with every other thread creating files meanwhile."""
    prefix = os.path.join(folder, f".{base}.{_host()}.{os.getpid()}.")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        name = f"{prefix}{secrets.token_hex(4)}.tmp"
        try:
            return os.open(name, flags, 0o666), name
        except FileExistsError:  # 1 in 4 billion per live temporary: draw again
            continue


def _remove_stale_temporaries(folder: str, base: str) -> None:
    """Remove this host's temporaries for `base` whose writing process is gone."""
    pattern = re.compile(rf"\.{re.escape(base)}\.{re.escape(_host())}\.(\d+)\.[0-9a-f]{{8}}\.tmp")
    try:
        entries = list(os.scandir(folder))
    except OSError:  # no folder: creating the temporary says so clearly
        return
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match and not _process_alive(int(match.group(1))):
            # another save may have removed it first; one we may not remove is not ours
            with contextlib.suppress(OSError):
                os.remove(entry.path)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another thread of this process may be writing it now
    if os.name != "posix":
        return True  # os.kill(pid, 0) would terminate the process on Windows: keep the file
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, under another user
    except (OverflowError, ValueError):
        return False  # no process can have that pid
    return True


def _escape(key: str) -> str:
    return key.replace("%", "%25").replace("/", "%2F")


def _encode(value: Any, where: str, arrays: dict[str, np.ndarray], depth: int) -> Any:
    """The manifest node for `value`; arrays found are added to `arrays` under `where`."""
    if isinstance(value, (Mapping, list, tuple)) and depth >= _MAX_DEPTH:
        raise ValueError(f"md.save: {_where(where)} is nested deeper than {_MAX_DEPTH} containers, "
                         f"more than md.load accepts")
    if isinstance(value, Mapping):
        items = []
        for key, child in value.items():
            items.append([_encode_key(key, where),
                          _encode(child, f"{where}/{_escape(str(key))}", arrays, depth + 1)])
        return {"t": "odict" if isinstance(value, OrderedDict) else "dict", "items": items}
    if isinstance(value, (list, tuple)):
        kind = "tuple" if isinstance(value, tuple) else "list"
        return {"t": kind, "items": [_encode(v, f"{where}/{i}", arrays, depth + 1)
                                     for i, v in enumerate(value)]}
    if isinstance(value, Tensor):
        value = value.data
    if B.is_array(value):
        arr = B.to_numpy(value) if not isinstance(value, np.generic) else np.asarray(value)
        if arr.dtype.hasobject:
            raise TypeError(f"md.save: {_where(where)} is an object array, which needs pickle")
        name = where
        while name in arrays:  # keys 1 and "1" share a path; the manifest tells them apart
            name = f"{where}~{len(arrays)}"
        arrays[name] = arr
        return {"t": "scalar" if isinstance(value, np.generic) else "array", "name": name}
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"t": "value", "v": value}
    raise TypeError(f"md.save: {_where(where)} is a {type(value).__name__}; expected dicts, lists, "
                    f"arrays, Tensors, numbers, strings or None")


def _encode_key(key: Any, where: str) -> list[Any]:
    if isinstance(key, str):
        return ["s", key]
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return ["i", int(key)]
    raise TypeError(f"md.save: key {key!r} in {_where(where)} is a {type(key).__name__}; keys must "
                    f"be str or int")


def _where(path: str) -> str:
    return "the top level" if path == _ROOT else repr(path[len(_ROOT) + 1:])


# ---- load ----------------------------------------------------------------------------

class _Corrupt(Exception):
    """The file opened but is not a consistent minidl state file."""


# Everything a damaged or crafted file can make the reading raise. NotImplementedError and
# RuntimeError come from zipfile for flag bits it does not support (patched data, strong
# encryption); the checks below refuse the common ones first with a clearer message.
_DAMAGE = (_Corrupt, zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, TypeError,
           AttributeError, IndexError, UnicodeDecodeError, OverflowError, NotImplementedError,
           RuntimeError)


def load(path: PathLike) -> Any:
    """Read what `save` wrote: the same nesting, keys and leaf types, arrays as NumPy.

    A missing file raises FileNotFoundError; a truncated, damaged, crafted or foreign file,
    a directory, a pipe or a device raises ValueError naming the path. No pickle ever runs."""
    path = os.fspath(path)
    with _open_regular_file(path) as f:
        try:
            arrays = _read_arrays(f)
            manifest = _read_manifest(arrays.pop(_MANIFEST, None))
            used: set[str] = set()
            state = _decode(manifest["tree"], arrays, used, 0)
            if used != set(arrays):
                raise _Corrupt(f"arrays {sorted(set(arrays) - used)[:5]} are not in its manifest")
        except _DAMAGE as exc:
            raise ValueError(f"md.load: {path!r} is not a valid minidl state file (truncated, "
                             f"damaged or foreign): {exc}") from exc
    return state


def _open_regular_file(path: str) -> Any:
    """The file opened for reading, refused unless it is a regular file. O_NONBLOCK: opening
    a named pipe nobody writes to would otherwise wait forever (no effect on regular files)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise FileNotFoundError(f"md.load: no such file: {path!r}") from None
    except IsADirectoryError:
        raise ValueError(f"md.load: {path!r} is a directory, not a minidl state file") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        what = "a directory" if stat.S_ISDIR(mode) else "not a regular file (a pipe, device or socket)"
        raise ValueError(f"md.load: {path!r} is {what}, not a minidl state file")
    return os.fdopen(fd, "rb")


class _Clamped:
    """A file whose reads never ask for more than the file holds. zipfile reads lengths
    found in the file, and Python allocates the requested length before reading: a corrupt
    central directory claiming terabytes would raise MemoryError instead of a clear error."""

    def __init__(self, f: Any):
        self._f = f
        self._size = os.fstat(f.fileno()).st_size

    def read(self, n: int | None = -1) -> bytes:
        left = max(self._size - self._f.tell(), 0)
        return self._f.read(left if n is None or n < 0 else min(n, left))

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def seekable(self) -> bool:
        return True

    @property
    def size(self) -> int:
        return self._size


def _read_arrays(f: Any) -> dict[str, np.ndarray]:
    """Every member of the archive as an array, by its name without ".npy"."""
    clamped = _Clamped(f)
    with zipfile.ZipFile(clamped) as archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        if len(set(names)) != len(names):
            raise _Corrupt("its archive lists a member twice")
        # stored members cannot together hold more than the file: overlapping members
        # claiming the same bytes many times over are refused before anything is read
        if sum(info.file_size for info in infos) > clamped.size:
            raise _Corrupt(f"its members claim {sum(info.file_size for info in infos)} bytes; "
                           f"the file has {clamped.size}")
        return {info.filename[:-len(".npy")]: _read_member(archive, info) for info in infos}


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """One .npy member, its header checked against its size before the array is allocated."""
    name = info.filename
    if not name.endswith(".npy"):
        raise _Corrupt(f"member {name!r} is not an .npy array")
    if info.flag_bits & 0x1:
        raise _Corrupt(f"member {name!r} is marked encrypted")
    if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
        raise _Corrupt(f"member {name!r} is compressed (method {info.compress_type}); md.save "
                       f"stores members uncompressed")
    with archive.open(info) as member:
        shape, fortran_order, dtype = _read_header(member, name)
        nbytes = math.prod(shape) * dtype.itemsize
        if member.tell() + nbytes != info.file_size:
            raise _Corrupt(f"member {name!r} claims shape {shape} of {dtype} ({nbytes} bytes) but "
                           f"holds {info.file_size - member.tell()} bytes")
        raw = np.empty(nbytes, dtype=np.uint8)
        done = 0
        while done < nbytes:
            chunk = member.read(min(_CHUNK, nbytes - done))
            if not chunk:
                raise _Corrupt(f"member {name!r} ends early")
            raw[done:done + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
            done += len(chunk)
        if member.read(1):  # also makes zipfile check the CRC of what was read
            raise _Corrupt(f"member {name!r} is longer than its header says")
    if nbytes == 0:
        return np.empty(shape, dtype=dtype, order="F" if fortran_order else "C")
    return raw.view(dtype).reshape(shape, order="F" if fortran_order else "C")


def _read_header(member: Any, name: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(member)
    else:
        raise _Corrupt(f"member {name!r} is .npy format {version}; md.load reads 1.0 and 2.0")
    if dtype.hasobject:
        raise _Corrupt(f"member {name!r} holds Python objects, which need pickle (never run)")
    if any(n < 0 for n in shape):
        raise _Corrupt(f"member {name!r} has a negative shape {shape}")
    if dtype.itemsize == 0 and math.prod(shape) > 0:  # no bytes to check the shape against
        raise _Corrupt(f"member {name!r} has {math.prod(shape)} elements of 0 bytes ({dtype})")
    return shape, fortran_order, dtype


def _read_manifest(raw: np.ndarray | None) -> dict[str, Any]:
    if raw is None:
        raise _Corrupt("it has no manifest (a plain .npz, not written by md.save?)")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise _Corrupt(f"its manifest is a {raw.dtype} array of shape {raw.shape}, not bytes")
    try:
        manifest = json.loads(raw.tobytes().decode("utf-8"))
    except RecursionError:
        raise _Corrupt("its manifest is nested too deeply") from None
    if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT or "tree" not in manifest:
        raise _Corrupt("its manifest is not a minidl manifest")
    if manifest.get("version") != _VERSION:
        raise _Corrupt(f"format version {manifest.get('version')!r}; this minidl reads {_VERSION}")
    return manifest


def _decode(node: Any, arrays: dict[str, np.ndarray], used: set[str], depth: int) -> Any:
    if not isinstance(node, dict):
        raise _Corrupt(f"bad manifest node {node!r}")
    kind = node.get("t")
    if kind in ("dict", "odict", "list", "tuple") and depth >= _MAX_DEPTH:
        raise _Corrupt(f"its containers nest deeper than {_MAX_DEPTH}")
    if kind in ("dict", "odict"):
        out = OrderedDict() if kind == "odict" else {}
        for (key_type, key), child in node["items"]:
            if key_type not in ("s", "i") or not isinstance(key, str if key_type == "s" else int):
                raise _Corrupt(f"bad key {key!r} in the manifest")
            out[key] = _decode(child, arrays, used, depth + 1)
        return out
    if kind in ("list", "tuple"):
        items = [_decode(child, arrays, used, depth + 1) for child in node["items"]]
        return tuple(items) if kind == "tuple" else items
    if kind in ("array", "scalar"):
        name = node["name"]
        if name not in arrays:
            raise _Corrupt(f"its manifest lists array {name!r}, which the file lacks")
        used.add(name)
        return arrays[name][()] if kind == "scalar" else arrays[name]
    if kind == "value":
        value = node["v"]
        if value is not None and not isinstance(value, (bool, int, float, str)):
            raise _Corrupt(f"bad value {value!r} in the manifest")
        return value
    raise _Corrupt(f"unknown manifest node type {kind!r}")
