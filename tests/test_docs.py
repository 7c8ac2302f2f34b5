"""Every Python code block in README.md and docs/ runs as written.

The blocks of one page run in order as one script (a page is read top to bottom, so a
later block may use what an earlier one defined), in a fresh process in a temporary
folder. Names the prose assumes but no block defines (an MNIST batch called `images`, a
trained `model`) come from a short prelude per page below: the fragments made whole.
The MNIST loader is cut to 1,000 images in these runs, so snippets that train for a few
epochs finish in seconds; everything else is the page's own code. Pages about the GPU
run on the CuPy emulator (tests/emulated_gpu); the distributed page as one MPI rank.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import data_root

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
FENCE = re.compile(r"^([ \t]*)```python[^\n]*\n(.*?)^\1```", re.S | re.M)

# fewer images, same code: keeps the snippets that train for a few epochs fast
SMALL_MNIST = """
import minidl as _md
_load_mnist = _md.datasets.load_mnist
def _small_mnist(*args, **kwargs):
    images, labels = _load_mnist(*args, **kwargs)
    return images[:1000], labels[:1000]
_md.datasets.load_mnist = _md.datasets.mnist.load_mnist = _small_mnist
"""
MNIST_BATCH = """
import numpy as np
import minidl as md
import minidl.functional as F
from minidl import nn, optim
images, labels = md.datasets.load_mnist("test")
images = (images[:64, None] / 255.0).astype(np.float32)
labels = labels[:64]
"""
MLP_DATA = """
import numpy as np
x = np.random.default_rng(0).normal(size=(256, 784)).astype(np.float32)
y = np.random.default_rng(1).integers(0, 10, size=256)
"""
TRAINED_MODEL = """
import minidl as md
from minidl import nn
model = nn.Sequential(nn.Dense(4, 3))
x = md.randn(2, 4)
"""
# page -> {block number (from 1): code run just before that block}
PRELUDES: dict[str, dict[int, str]] = {
    "gpu.md": {1: MNIST_BATCH},
    "distributed.md": {1: MLP_DATA},
    "autograd.md": {2: TRAINED_MODEL},
}


def blocks(page: Path) -> list[str]:
    """The page's Python code blocks, dedented (blocks inside list items are indented)."""
    return [textwrap.dedent(body) for _, body in FENCE.findall(page.read_text(encoding="utf-8"))]


def script(page: Path) -> str:
    parts = [SMALL_MNIST]
    preludes = PRELUDES.get(page.name, {})
    for number, code in enumerate(blocks(page), start=1):
        parts.append(f"# --- {page.name}, block {number}\n{preludes.get(number, '')}{code}")
    return "\n".join(parts)


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p)], ids=lambda p: p.name)
def test_page_code_runs(page: Path, tmp_path: Path) -> None:
    data = data_root()
    if data is None:
        pytest.skip("real data not found: set MINIDL_DATA or put shared/data beside the project")
    env = dict(os.environ, MINIDL_DATA=str(data), MINIDL_OFFLINE="1", MPLBACKEND="Agg",
               XDG_CACHE_HOME=str(tmp_path / "cache"), MINIDL_BACKEND="numpy")
    paths = [str(ROOT)]
    if page.name == "gpu.md":
        env["MINIDL_EMULATE_GPU"] = "1"
        paths.insert(0, str(ROOT / "tests" / "emulated_gpu"))
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
    (tmp_path / "snippets.py").write_text(script(page), encoding="utf-8")
    done = subprocess.run([sys.executable, "snippets.py"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, f"{page.name}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def test_fence_finds_indented_blocks(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("text\n```python\na = 1\n```\n- item\n\n    ```python\n    b = a + 1\n    ```\n"
                    "```bash\nnot python\n```\n")
    assert blocks(page) == ["a = 1\n", "b = a + 1\n"]
