"""Regenerate tests/keras/expected.py from Keras 3 (by hand; never run by the tests).

    KERAS_BACKEND=torch python tests/keras/make_expected.py

Runs every recipe of tests/keras/recipes.py with Keras 3 and writes its results as
literals, which tests/keras/test_against_keras.py compares minidl.keras against.
"""
from __future__ import annotations

import os
import pprint
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402 - after choosing the backend

sys.path.insert(0, str(Path(__file__).resolve().parent))
import recipes  # noqa: E402


def main() -> None:
    keras.utils.set_random_seed(0)
    results = {}
    for name, run in recipes.RUNS.items():
        keras.backend.clear_session()
        results[name] = run(keras)
    with tempfile.TemporaryDirectory() as folder:
        keras.backend.clear_session()
        results["checkpoint_and_csv"] = recipes.run_checkpoint_and_csv(keras, folder)
    text = pprint.pformat(results, width=100, sort_dicts=False)
    header = (f'"""Results of tests/keras/recipes.py under Keras {keras.__version__} '
              f'(backend {keras.backend.backend()}),\nwritten by tests/keras/make_expected.py. '
              f'Do not edit by hand."""\n\nEXPECTED = ')
    (Path(__file__).resolve().parent / "expected.py").write_text(header + text + "\n")


if __name__ == "__main__":
    main()
