"""load_names: one UTF-8 file per language, one surname per line."""
from __future__ import annotations

import numpy as np
import pytest

from minidl.datasets import load_names
from minidl.datasets import names as names_module


@pytest.fixture(autouse=True)
def isolated(monkeypatch):
    monkeypatch.delenv("MINIDL_DATA", raising=False)
    monkeypatch.setattr(names_module.paths, "shared_data_dir", lambda: None)


def test_languages_are_sorted_and_labels_index_them(tmp_path):
    (tmp_path / "names").mkdir()
    (tmp_path / "names" / "Spanish.txt").write_text("Núñez\nGarcía\n\n", encoding="utf-8")
    (tmp_path / "names" / "Czech.txt").write_text("Dvořák\n", encoding="utf-8")
    names, labels, languages = load_names(tmp_path)
    assert languages == ["Czech", "Spanish"]
    assert names == ["Dvořák", "Núñez", "García"]
    assert labels.dtype == np.int64 and labels.tolist() == [0, 1, 1]


def test_found_through_minidl_data(tmp_path, monkeypatch):
    (tmp_path / "names").mkdir()
    (tmp_path / "names" / "Greek.txt").write_text("Papadopoulos\n", encoding="utf-8")
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path))
    assert load_names()[0] == ["Papadopoulos"]


def test_missing_corpus_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match="names"):
        load_names(tmp_path / "nowhere")


def test_non_utf8_file_raises_naming_it(tmp_path):
    (tmp_path / "Latin1.txt").write_bytes("Mü\n".encode("latin-1"))
    with pytest.raises(ValueError, match="Latin1.txt"):
        load_names(tmp_path)


def test_real_corpus(shared_data):
    names, labels, languages = load_names(shared_data)
    assert len(languages) == 18 and "Russian" in languages
    assert len(names) == len(labels) > 18000
    assert np.bincount(labels).argmax() == languages.index("Russian")
