"""The surnames-by-language corpus: `names/<Language>.txt`, one surname per line (UTF-8)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from minidl.datasets import paths


def load_names(root: str | os.PathLike | None = None) -> tuple[list[str], np.ndarray, list[str]]:
    """(names, labels (N,) int64, languages): every surname with the index of its language.

    Languages are the file stems sorted alphabetically; `labels[i]` indexes them.
    The `*.txt` files are looked for in `root` (or `root/names`), then
    `$MINIDL_DATA/names`, then `shared/data/names` beside the project checkout.
    """
    folders = _search_folders(root)
    folder = next((f for f in folders if f.is_dir() and any(f.glob("*.txt"))), None)
    if folder is None:
        where = "\n  ".join(str(f) for f in folders) or "(no folder: pass root= or set MINIDL_DATA)"
        raise FileNotFoundError(f"names corpus not found: no names/*.txt in any of\n  {where}\n"
                                f"Put one <Language>.txt file per language (one surname per line) there.")
    names: list[str] = []
    labels: list[int] = []
    languages = sorted(p.stem for p in folder.glob("*.txt"))
    for index, language in enumerate(languages):
        path = folder / f"{language}.txt"
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}: not UTF-8 text ({exc})") from exc
        words = [line.strip() for line in lines if line.strip()]
        names += words
        labels += [index] * len(words)
    return names, np.asarray(labels, dtype=np.int64), languages


def _search_folders(root: str | os.PathLike | None) -> list[Path]:
    folders: list[Path] = []
    if root is not None:
        folders += [Path(root).expanduser(), Path(root).expanduser() / "names"]
    env = os.environ.get("MINIDL_DATA")
    if env:
        folders.append(Path(env).expanduser() / "names")
    shared = paths.shared_data_dir()
    if shared is not None:
        folders.append(shared / "names")
    return list(dict.fromkeys(folders))
