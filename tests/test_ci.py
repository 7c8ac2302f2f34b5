""".ci/run is the README's test command: three pytest runs, each its own process, stopping
at the first that fails with its exit code (5, "no tests collected", included).

.ci/run is run for real with stand-ins for `pip` and `pytest` first on PATH that log how
they were called and exit with the codes a test asks for."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LEGS = ["pytest", "MINIDL_KERNELS=reference pytest tests/ops tests/nn", "MINIDL_EMULATE_GPU=1 pytest -m gpu"]


def readme_test_command() -> str:
    """The first bash block under "## Quick start" in README.md."""
    quick_start = (ROOT / "README.md").read_text().split("## Quick start", 1)[1]
    return quick_start.split("```bash\n", 1)[1].split("```", 1)[0].strip()


def test_ci_runs_exactly_the_readme_test_command():
    command = readme_test_command()
    assert command in (ROOT / ".ci" / "run").read_text()
    legs = [leg.strip(" \\\n") for leg in command.split("&&")]
    assert legs == ['pip install -e ".[test]"', *LEGS]


FAKE_PYTEST = """#!/usr/bin/env bash
echo "KERNELS=${MINIDL_KERNELS:-} EMULATE=${MINIDL_EMULATE_GPU:-} CI=${CI:-} ARGS=$*" >> "$LOG"
n=$(wc -l < "$LOG")
exit "$(sed -n "${n}p" "$CODES")"
"""


@pytest.fixture
def fake_tools(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    if shutil.which("bash") is None:
        pytest.skip(".ci/run is a bash script and bash is not on PATH")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pip").write_text("#!/usr/bin/env bash\nexit 0\n")
    (bin_dir / "pytest").write_text(FAKE_PYTEST)
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIDL_")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", LOG=str(tmp_path / "log"),
               CODES=str(tmp_path / "codes"))
    return tmp_path, env


def run_ci(tmp_path: Path, env: dict[str, str], codes: list[int]) -> tuple[int, list[str], str]:
    (tmp_path / "codes").write_text("".join(f"{c}\n" for c in codes))
    (tmp_path / "log").write_text("")
    done = subprocess.run(["bash", str(ROOT / ".ci" / "run")], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    return done.returncode, (tmp_path / "log").read_text().splitlines(), done.stderr


def test_ci_runs_the_three_legs_as_separate_pytest_runs(fake_tools):
    rc, calls, _ = run_ci(*fake_tools, [0, 0, 0])
    assert rc == 0
    assert calls == ["KERNELS= EMULATE= CI=true ARGS=",
                     "KERNELS=reference EMULATE= CI=true ARGS=tests/ops tests/nn",
                     "KERNELS= EMULATE=1 CI=true ARGS=-m gpu"]


@pytest.mark.parametrize("codes", [[1, 0, 0], [0, 2, 0], [0, 0, 1], [0, 5, 0], [5, 0, 0]])
def test_ci_stops_at_the_first_failing_leg_with_its_exit_code(fake_tools, codes):
    rc, calls, stderr = run_ci(*fake_tools, codes)
    failing = next(i for i, c in enumerate(codes) if c)
    assert rc == codes[failing]
    assert len(calls) == failing + 1
    if rc == 5:
        assert "collected no tests; treating that as a failure" in stderr
