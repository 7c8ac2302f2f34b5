"""MNIST from the four standard IDX files, found locally or downloaded with checksums.

Shapes: images (N, 28, 28) uint8 in [0, 255], labels (N,) int64 in [0, 9].
"""
from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import zlib
from pathlib import Path
from typing import Any, Callable

import numpy as np

from minidl.datasets import paths

SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_SPLIT_ALIASES = {"train": "train", "test": "test", "t10k": "test"}

# md5 of the published gzip files; raw files are checked by their IDX structure only
MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

# IDX type codes -> big-endian dtypes
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

def _open_url(url: str, timeout: float) -> Any:  # tests replace this to exercise downloads offline
    import urllib.request  # lazy: urllib/ssl/http cost 10 MB and 60 ms at `import minidl`

    return urllib.request.urlopen(url, timeout=timeout)


def load_mnist(split: str = "train", root: str | os.PathLike | None = None,
               download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) int64 of one MNIST split ("train" or "test").

    The IDX files (gzip or raw) are looked for in `root` (or `root/mnist`), then
    `$MINIDL_DATA/mnist`, then `~/.cache/minidl/mnist`, then `shared/data/mnist`
    beside the project checkout. Missing files are downloaded, when `download`
    is true and `$MINIDL_OFFLINE` is not set, into `root` (or the cache folder)
    and checked against their MD5.
    Raises FileNotFoundError naming the missing files and the folders searched,
    and ValueError naming a corrupt, truncated or foreign file.
    """
    key = _SPLIT_ALIASES.get(str(split).lower())
    if key is None:
        raise ValueError(f"load_mnist: split must be 'train' or 'test', got {split!r}")
    folders = search_folders(root)
    found = {base: _find(base, folders) for base in SPLITS[key]}
    missing = [base for base, path in found.items() if path is None]
    failures: list[str] = []
    offline = bool(os.environ.get("MINIDL_OFFLINE"))
    if missing and download and not offline:
        target = Path(root).expanduser() if root is not None else paths.cache_root() / "mnist"
        for base in missing:
            try:
                found[base] = _download(base + ".gz", target)
            except OSError as exc:
                failures.append(str(exc))
    still = [base for base, path in found.items() if path is None]
    if still:
        raise FileNotFoundError(_missing_message(key, still, folders, download and not offline, failures))
    image_path, label_path = (found[base] for base in SPLITS[key])
    images, labels = read_idx(image_path), read_idx(label_path)
    _check_pair(images, labels, image_path, label_path)
    return images.astype(np.uint8, copy=False), labels.astype(np.int64)


def search_folders(root: str | os.PathLike | None = None) -> list[Path]:
    """The folders load_mnist looks in, in order (existing or not)."""
    folders: list[Path] = []
    if root is not None:
        folders += [Path(root).expanduser(), Path(root).expanduser() / "mnist"]
    env = os.environ.get("MINIDL_DATA")
    if env:
        folders.append(Path(env).expanduser() / "mnist")
    folders.append(paths.cache_root() / "mnist")
    shared = paths.shared_data_dir()
    if shared is not None:
        folders.append(shared / "mnist")
    return list(dict.fromkeys(folders))


def _find(base: str, folders: list[Path]) -> Path | None:
    for folder in folders:
        for name in (base + ".gz", base):
            if (folder / name).is_file():
                return folder / name
    return None


def _missing_message(split: str, missing: list[str], folders: list[Path], download: bool,
                     failures: list[str]) -> str:
    names = ", ".join(f"{m}(.gz)" for m in missing)
    where = "\n  ".join(str(f) for f in folders)
    if not download:
        why = "download=False (or MINIDL_OFFLINE is set), so nothing was downloaded."
    else:
        why = "Downloading failed:\n  " + "\n  ".join(failures)
    return (f"MNIST {split} split not found: missing {names}.\nLooked in:\n  {where}\n{why}\n"
            f"Put the IDX files (gzip or raw) in one of those folders, set MINIDL_DATA to a folder "
            f"holding mnist/, or pass root=.")


# ---- reading ------------------------------------------------------------------------------

def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (gzip or raw) into a native-endian array.

    A file with a known name (e.g. `t10k-images-idx3-ubyte.gz`) must match its
    published MD5. Anything corrupt, truncated or not IDX raises ValueError naming it.
    """
    path = Path(path)
    expected = MD5.get(path.name)
    if expected is not None:
        actual = _md5(path)
        if actual != expected:
            raise ValueError(f"{path}: MD5 checksum {actual} does not match the published {expected}; "
                             f"the file is corrupt or incomplete: delete it and load again")
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or not 1 <= raw[3] <= 4:
        raise ValueError(f"{path}: not an IDX file (magic bytes {raw[:4].hex() or 'missing'}, expected "
                         f"0000 then a type code and 1-4 dimensions, e.g. 00000803 for images)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(raw)} bytes, expected {header})")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected_bytes = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected_bytes:
        state = "truncated" if len(raw) < expected_bytes else "has trailing bytes"
        raise ValueError(f"{path}: IDX file {state}: {len(raw)} bytes, expected {expected_bytes} "
                         f"for shape {shape}")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))  # a writable native-endian copy


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: corrupt or truncated gzip data ({exc})") from exc


def _check_pair(images: np.ndarray, labels: np.ndarray, image_path: Path, label_path: Path) -> None:
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"{image_path}: expected uint8 images (N, H, W), got {images.dtype} {images.shape}")
    if labels.ndim != 1:
        raise ValueError(f"{label_path}: expected labels (N,), got shape {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{image_path} holds {len(images)} images but {label_path} holds "
                         f"{len(labels)} labels")


def _md5(path: Path | str) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---- downloading --------------------------------------------------------------------------

def _download(filename: str, folder: Path) -> Path:
    """Fetch `filename` from the first mirror that works into `folder`; OSError if none does."""
    errors = []
    for mirror in MIRRORS:
        url = mirror + filename
        try:
            return _fetch(url, folder / filename)
        except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors
            errors.append(f"{url}: {exc}")
    raise OSError(f"could not download {filename}: " + "; ".join(errors))


def _fetch(url: str, dest: Path) -> Path:
    """Stream `url` into a temporary file beside `dest`, check its MD5, then rename it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, _open_url(url, timeout=30) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            from tqdm.auto import tqdm  # lazy: only downloads draw a bar

            with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {dest.name}") as bar:
                for chunk in iter(lambda: response.read(1 << 16), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
        expected = MD5.get(dest.name)
        if expected is not None and _md5(tmp) != expected:
            raise ValueError(f"MD5 checksum mismatch for the download from {url}")
        os.replace(tmp, dest)  # atomic: a half-written file never carries the real name
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return dest


def load_mnist_splits(root: str | os.PathLike | None = None, offline_train: int = 8000,
                      log: Callable[[str], Any] = print
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """(train images, train labels, test images, test labels, note) for a training script.

    Local files in `root` (or `root/mnist`) are read first and never downloaded into;
    missing files are downloaded into the cache (see `load_mnist`) unless offline.
    When the train split cannot be had, `log` (print by default) says so and the
    offline fallback trains on the first `offline_train` test images and evaluates
    on the rest. `note` names the data used: "MNIST train (60,000) / test (10,000)",
    or "offline: test[:8000] / test[8000:]".
    """
    root = Path(root) if root is not None else None
    folder = root / "mnist" if root is not None and (root / "mnist").is_dir() else root

    def load(split: str) -> tuple[np.ndarray, np.ndarray]:
        try:  # local files first; downloads go to ~/.cache/minidl/mnist, never the data folder
            return load_mnist(split, root=folder, download=False)
        except FileNotFoundError:
            return load_mnist(split, download=True)

    test_x, test_y = load("test")
    try:
        train_x, train_y = load("train")
    except FileNotFoundError as exc:
        missing = str(exc).splitlines()[0].split("missing ")[-1].rstrip(".")
        n = offline_train
        log(f"MNIST train split not available: {missing} not found and the download failed.\n"
            f"Offline fallback: training on the first {n:,} test images, "
            f"evaluating on the last {len(test_y) - n:,}.")
        return test_x[:n], test_y[:n], test_x[n:], test_y[n:], f"offline: test[:{n}] / test[{n}:]"
    return (train_x, train_y, test_x, test_y,
            f"MNIST train ({len(train_y):,}) / test ({len(test_y):,})")
