"""load_mnist / read_idx on small IDX files written here; downloads faked, never networked."""
from __future__ import annotations

import gzip
import hashlib
import io
import struct
from pathlib import Path

import numpy as np
import pytest

from minidl.datasets import load_mnist, mnist, read_idx


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array: 0000, type 08, ndim, big-endian dims, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def small_split(n: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8)


def write_split(folder: Path, split: str = "test", gz: bool = False, n: int = 5) -> tuple[np.ndarray, np.ndarray]:
    images, labels = small_split(n)
    folder.mkdir(parents=True, exist_ok=True)
    for base, arr in zip(mnist.SPLITS[split], (images, labels)):
        data = idx_bytes(arr)
        (folder / (base + (".gz" if gz else ""))).write_bytes(gzip.compress(data) if gz else data)
    return images, labels


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No MINIDL_DATA, an empty cache, no shared folder, and any real download fails loudly."""
    monkeypatch.delenv("MINIDL_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(mnist.paths, "shared_data_dir", lambda: None)

    def no_network(url, timeout=None):
        raise AssertionError(f"the test suite must not touch the network ({url})")
    monkeypatch.setattr(mnist, "_open_url", no_network)


def accept_checksums_of(monkeypatch, folder: Path) -> None:
    """Our small gzip files carry real names, so register their own MD5s as the published ones."""
    for path in folder.glob("*.gz"):
        monkeypatch.setitem(mnist.MD5, path.name, hashlib.md5(path.read_bytes()).hexdigest())


def test_raw_files_in_root(tmp_path):
    images, labels = write_split(tmp_path / "d", "test")
    x, y = load_mnist("test", root=tmp_path / "d", download=False)
    assert x.dtype == np.uint8 and x.shape == (5, 28, 28)
    assert y.dtype == np.int64 and y.shape == (5,)
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)


def test_gzip_files_found_through_minidl_data(tmp_path, monkeypatch):
    images, labels = write_split(tmp_path / "data" / "mnist", "train", gz=True)
    accept_checksums_of(monkeypatch, tmp_path / "data" / "mnist")
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path / "data"))
    x, y = load_mnist("train", download=False)
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)


def test_cache_folder_is_searched_last(tmp_path):
    write_split(tmp_path / "cache" / "minidl" / "mnist", "test")
    x, _ = load_mnist("test", download=False)
    assert x.shape == (5, 28, 28)


def test_known_gzip_name_with_the_wrong_checksum_raises_naming_it(tmp_path):
    write_split(tmp_path, "test", gz=True)  # valid IDX, but not the published bytes
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte\.gz.*MD5"):
        load_mnist("test", root=tmp_path, download=False)


def test_missing_files_without_download_name_files_and_folders(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_mnist("train", root=tmp_path / "nowhere", download=False)
    message = str(info.value)
    assert "train-images-idx3-ubyte" in message and "train-labels-idx1-ubyte" in message
    assert str(tmp_path / "nowhere") in message and str(tmp_path / "cache" / "minidl" / "mnist") in message
    assert "download=False" in message


def test_unknown_split_raises():
    with pytest.raises(ValueError, match="split"):
        load_mnist("validation", download=False)


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_roundtrip(tmp_path, gz):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / ("a.idx.gz" if gz else "a.idx")
    path.write_bytes(gzip.compress(idx_bytes(arr)) if gz else idx_bytes(arr))
    np.testing.assert_array_equal(read_idx(path), arr)


def test_read_idx_big_endian_int32(tmp_path):
    values = np.array([1, -2, 70000], dtype=">i4")
    path = tmp_path / "ints.idx"
    path.write_bytes(bytes([0, 0, 0x0C, 1]) + struct.pack(">I", 3) + values.tobytes())
    out = read_idx(path)
    assert out.dtype == np.int32 and out.dtype.isnative
    np.testing.assert_array_equal(out, [1, -2, 70000])


@pytest.mark.parametrize("make, match", [
    (lambda data: data[:-7], "truncated"),
    (lambda data: data[:6], "truncated IDX header"),
    (lambda data: data + b"xx", "trailing"),
    (lambda data: b"\x12\x34" + data[2:], "not an IDX file"),
    (lambda data: data[:2] + b"\x07" + data[3:], "not an IDX file"),
    (lambda data: b"", "not an IDX file"),
])
def test_corrupt_truncated_and_foreign_files_raise_naming_them(tmp_path, make, match):
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(make(idx_bytes(small_split()[0])))
    with pytest.raises(ValueError, match=match) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_corrupt_gzip_raises_naming_the_file(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(idx_bytes(small_split()[1]))[:-10])
    with pytest.raises(ValueError, match="gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_image_and_label_counts_must_agree(tmp_path):
    images, labels = small_split(5)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(images))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(labels[:4]))
    with pytest.raises(ValueError, match="5 images.*4 labels"):
        load_mnist("test", root=tmp_path, download=False)


class FakeResponse(io.BytesIO):
    def __init__(self, payload: bytes) -> None:
        super().__init__(payload)
        self.headers = {"Content-Length": str(len(payload))}


def test_download_writes_a_temp_file_then_renames_it(tmp_path, monkeypatch):
    images, labels = small_split(3)
    payloads = {base + ".gz": gzip.compress(idx_bytes(arr))
                for base, arr in zip(mnist.SPLITS["test"], (images, labels))}
    for name, payload in payloads.items():
        monkeypatch.setitem(mnist.MD5, name, hashlib.md5(payload).hexdigest())
    seen = []

    def fake_open(url, timeout=None):
        if url.startswith(mnist.MIRRORS[0]):  # the first mirror is down
            raise OSError("mirror down")
        seen.append(url)
        name = url.rsplit("/", 1)[1]
        folder = tmp_path / "cache" / "minidl" / "mnist"
        assert not (folder / name).exists()  # only renamed once complete
        assert [p.name for p in folder.glob(name + ".*.part")]  # written to a temp file first
        return FakeResponse(payloads[name])
    monkeypatch.setattr(mnist, "_open_url", fake_open)

    x, y = load_mnist("test")
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)
    assert all(url.startswith(mnist.MIRRORS[1]) for url in seen) and len(seen) == 2
    folder = tmp_path / "cache" / "minidl" / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(payloads)  # no .part files left


def test_a_bad_download_leaves_nothing_behind_and_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "_open_url", lambda url, timeout=None: FakeResponse(b"garbage"))
    with pytest.raises(FileNotFoundError, match=r"(?s)t10k-images-idx3-ubyte.*checksum"):
        load_mnist("test", root=tmp_path / "dl")
    assert list((tmp_path / "dl").iterdir()) == []


def test_no_network_error_says_which_files_and_where(tmp_path, monkeypatch):
    def offline(url, timeout=None):
        raise OSError("Name or service not known")
    monkeypatch.setattr(mnist, "_open_url", offline)
    with pytest.raises(FileNotFoundError) as info:
        load_mnist("train")
    message = str(info.value)
    assert "train-images-idx3-ubyte" in message and "Name or service not known" in message
    assert str(tmp_path / "cache" / "minidl" / "mnist") in message


def test_real_test_split_matches_its_published_checksums(shared_data):
    x, y = load_mnist("test", root=shared_data / "mnist", download=False)
    assert x.shape == (10000, 28, 28) and y.shape == (10000,)
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_minidl_offline_forbids_downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDL_OFFLINE", "1")  # the autouse fixture fails the test on any download
    with pytest.raises(FileNotFoundError, match="MINIDL_OFFLINE"):
        load_mnist("train", root=tmp_path)
