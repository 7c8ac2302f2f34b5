"""find_data_root precedence and load_mnist_splits (with its offline fallback) on small IDX files."""
from __future__ import annotations

import numpy as np
import pytest

from minidl.datasets import find_data_root, load_mnist_splits, mnist, paths
from tests.datasets.test_mnist import write_split


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No MINIDL_DATA, an empty cache, no shared folder, and no downloads."""
    monkeypatch.delenv("MINIDL_DATA", raising=False)
    monkeypatch.setenv("MINIDL_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(paths, "shared_data_dir", lambda: None)

    def no_network(url, timeout=None):
        raise AssertionError(f"the test suite must not touch the network ({url})")
    monkeypatch.setattr(mnist, "_open_url", no_network)


def test_find_data_root_precedence(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    assert find_data_root() is None
    monkeypatch.setattr(paths, "shared_data_dir", lambda: shared)
    assert find_data_root() == shared
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path / "env"))
    assert find_data_root() == tmp_path / "env"              # $MINIDL_DATA beats the shared folder
    assert find_data_root(str(tmp_path / "given")) == tmp_path / "given"  # an explicit root beats both


def test_train_split_used_when_available(tmp_path):
    train_x, train_y = write_split(tmp_path / "mnist", "train", n=6)
    test_x, test_y = write_split(tmp_path / "mnist", "test", n=4)
    x, y, tx, ty, note = load_mnist_splits(tmp_path)
    np.testing.assert_array_equal(x, train_x)
    np.testing.assert_array_equal(y, train_y)
    np.testing.assert_array_equal(tx, test_x)
    np.testing.assert_array_equal(ty, test_y)
    assert note == "MNIST train (6) / test (4)"


def test_offline_fallback_splits_the_test_set(tmp_path, capsys):
    test_x, test_y = write_split(tmp_path, "test", n=10)
    x, y, tx, ty, note = load_mnist_splits(tmp_path, offline_train=8)
    np.testing.assert_array_equal(x, test_x[:8])
    np.testing.assert_array_equal(y, test_y[:8])
    np.testing.assert_array_equal(tx, test_x[8:])
    np.testing.assert_array_equal(ty, test_y[8:])
    assert note == "offline: test[:8] / test[8:]"
    out = capsys.readouterr().out
    assert "train split not available" in out
    assert "training on the first 8 test images, evaluating on the last 2" in out


def test_offline_message_goes_to_the_given_log(tmp_path):
    write_split(tmp_path, "test", n=10)
    lines: list[str] = []
    load_mnist_splits(tmp_path, offline_train=8, log=lines.append)
    assert len(lines) == 1 and "Offline fallback" in lines[0]
