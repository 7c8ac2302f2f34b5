"""Every code block of docs/keras.md runs as written, in order, in one namespace; a
```text block after a ```python block is the output it prints. The seed program's
MNIST is cut to a few hundred images so the page runs in seconds."""
from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from .test_examples_keras import small_mnist

PAGE = Path(__file__).resolve().parents[2] / "docs" / "keras.md"


def blocks(text):
    return re.findall(r"```(\w+)\n(.*?)```", text, re.S)


def test_every_snippet_of_the_keras_page_runs_and_prints_what_the_page_shows(
        shared_data, monkeypatch, tmp_path, recwarn):
    small_mnist(shared_data, monkeypatch, tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "80")
    found = blocks(PAGE.read_text())
    assert sum(kind == "python" for kind, _ in found) >= 6
    namespace: dict = {}
    printed = ""
    for i, (kind, code) in enumerate(found):
        if kind == "python":
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(code, f"docs/keras.md block {i}", "exec"), namespace)  # noqa: S102
            printed = out.getvalue()
        elif kind == "text":
            assert printed.strip() == code.strip(), f"block {i}:\n{printed}"
