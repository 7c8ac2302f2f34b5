"""md.save / md.load: nested state dicts in a plain `.npz`, written atomically, no pickle.

Layout of the file: every array leaf is stored under its path, "data/" followed by the
keys joined with "/" (each key escaped: "%" -> "%25", "/" -> "%2F", so dotted names
such as "0.weight" are kept as they are). The entry "manifest" is a UTF-8 JSON document
(as uint8 bytes) describing the whole tree: containers (dict, OrderedDict, list, tuple),
key types (str or int) and the leaves that are Python numbers, strings, bools or None,
so `load` returns the same nesting, keys and types. NumPy scalars come back as NumPy
scalars, CuPy arrays and Tensors as NumPy arrays.
"""
from __future__ import annotations

import json
import os
import tempfile
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

PathLike = str | os.PathLike


# ---- save ----------------------------------------------------------------------------

def save(state: Any, path: PathLike) -> None:
    """Write `state` (nested dicts/lists of arrays, Tensors and numbers; keys str or int)
    to `path` as a `.npz`. The file appears complete or not at all: it is written to a
    temporary file in the same folder and renamed over `path`."""
    path = os.fspath(path)
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(state, _ROOT, arrays)
    manifest = json.dumps({"format": _FORMAT, "version": _VERSION, "tree": tree})
    arrays[_MANIFEST] = np.frombuffer(manifest.encode("utf-8"), dtype=np.uint8)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _escape(key: str) -> str:
    return key.replace("%", "%25").replace("/", "%2F")


def _encode(value: Any, where: str, arrays: dict[str, np.ndarray]) -> Any:
    """The manifest node for `value`; arrays found are added to `arrays` under `where`."""
    if isinstance(value, Mapping):
        items = []
        for key, child in value.items():
            items.append([_encode_key(key, where), _encode(child, f"{where}/{_escape(str(key))}", arrays)])
        return {"t": "odict" if isinstance(value, OrderedDict) else "dict", "items": items}
    if isinstance(value, (list, tuple)):
        kind = "tuple" if isinstance(value, tuple) else "list"
        return {"t": kind, "items": [_encode(v, f"{where}/{i}", arrays) for i, v in enumerate(value)]}
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


def load(path: PathLike) -> Any:
    """Read what `save` wrote: the same nesting, keys and leaf types, arrays as NumPy.

    A missing file raises FileNotFoundError; a truncated, damaged or foreign file raises
    ValueError naming the path."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"md.load: no such file: {path!r}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"md.load: {path!r} is not a minidl state file (not an .npz/zip archive; "
                         f"truncated or foreign?)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        manifest = _read_manifest(arrays.pop(_MANIFEST, None))
        used: set[str] = set()
        state = _decode(manifest["tree"], arrays, used)
        if used != set(arrays):
            raise _Corrupt(f"arrays {sorted(set(arrays) - used)[:5]} are not in its manifest")
    except (_Corrupt, zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, TypeError,
            AttributeError, IndexError, UnicodeDecodeError) as exc:
        raise ValueError(f"md.load: {path!r} is not a valid minidl state file (truncated, damaged "
                         f"or foreign): {exc}") from exc
    return state


def _read_manifest(raw: np.ndarray | None) -> dict[str, Any]:
    if raw is None:
        raise _Corrupt("it has no manifest (a plain .npz, not written by md.save?)")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise _Corrupt(f"its manifest is a {raw.dtype} array of shape {raw.shape}, not bytes")
    manifest = json.loads(raw.tobytes().decode("utf-8"))
    if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT or "tree" not in manifest:
        raise _Corrupt("its manifest is not a minidl manifest")
    if manifest.get("version") != _VERSION:
        raise _Corrupt(f"format version {manifest.get('version')!r}; this minidl reads {_VERSION}")
    return manifest


def _decode(node: Any, arrays: dict[str, np.ndarray], used: set[str]) -> Any:
    if not isinstance(node, dict):
        raise _Corrupt(f"bad manifest node {node!r}")
    kind = node.get("t")
    if kind in ("dict", "odict"):
        out = OrderedDict() if kind == "odict" else {}
        for (key_type, key), child in node["items"]:
            if key_type not in ("s", "i") or not isinstance(key, str if key_type == "s" else int):
                raise _Corrupt(f"bad key {key!r} in the manifest")
            out[key] = _decode(child, arrays, used)
        return out
    if kind in ("list", "tuple"):
        items = [_decode(child, arrays, used) for child in node["items"]]
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
