"""Two real MPI ranks on loopback: equivalence with one process, sharding, start-up
checks and abort-on-error. Two scripts, three launches, each bounded by a timeout."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import minidl as md
from tests.distributed import workload
from tests.distributed.launch import ROOT, run_mpi, skip_reason

pytestmark = [pytest.mark.mpi, pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")]

WORLD = 2


NCCL_REASON = f"needs CuPy and {WORLD} NVIDIA GPUs (NCCL takes one GPU per rank)"


def gpu_count() -> int:
    if not md.cuda_available():
        return 0
    return md.backend.get_cupy().cuda.runtime.getDeviceCount()


@pytest.fixture(scope="module", params=["numpy", pytest.param("cupy", marks=pytest.mark.gpu)])
def checks(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run mpi_checks.py once on 2 ranks per backend (NumPy arrays over MPI, CuPy arrays over
    NCCL); the tests below read what each rank wrote."""
    if request.param == "cupy" and gpu_count() < WORLD:
        pytest.skip(NCCL_REASON)
    out = tmp_path_factory.mktemp(f"mpi_checks_{request.param}")
    result = run_mpi(WORLD, "mpi_checks.py", str(out), request.param)
    assert result.returncode == 0, result.stdout
    for rank in range(WORLD):
        assert f"rank {rank} of {WORLD}: done" in result.stdout
    return out


def read(out: Path, name: str) -> list:
    return [json.loads((out / f"{name}_rank{r}.json").read_text()) for r in range(WORLD)]


def test_init_reads_ranks_from_mpi(checks: Path) -> None:
    info = read(checks, "info")
    assert [i["rank"] for i in info] == [0, 1]
    assert all(i["world"] == WORLD for i in info)
    assert [i["local_rank"] for i in info] == [0, 1]  # both on this machine
    assert [i["main"] for i in info] == [True, False]


def test_destroy_and_init_again(checks: Path) -> None:
    assert read(checks, "reinit") == [{"left": True, "hook_restored": True, "rejoined": True}] * WORLD


def test_collectives(checks: Path) -> None:
    for rank, got in enumerate(read(checks, "collectives")):
        assert got["sum"] == [3.0] * 3
        assert got["mean"] == [1.5] * 3
        assert got["max_int"] == [1, 0]
        assert got["min"] == [1.0] * 3
        assert got["broadcast_from_1"] == (np.arange(12.0).reshape(3, 4)[:, ::2] * 2).tolist()
        assert got["broadcast_object"] == {"rank": 0}
        assert got["all_gather_object"] == [0, 10]


def test_gradients_missing_on_some_ranks_count_as_zero(checks: Path) -> None:
    for got in read(checks, "unused"):
        assert got["p0"] == [2.0, 2.0]  # (1 + 3) / 2
        assert got["p1"] == [2.0, 2.0]  # (0 + 4) / 2: as in one big batch
        assert got["p2"] is None  # no rank had one: the optimizer must skip it


def test_one_gradient_average_per_step_however_it_is_wired(checks: Path) -> None:
    for got in read(checks, "averages"):
        assert got == {w: [workload.WIRED_STEPS, workload.WIRED_STEPS] for w in workload.WIRINGS}


def test_sampler_shards_across_processes(checks: Path) -> None:
    shards = read(checks, "sampler")
    for case in ("pad", "drop", "plain"):
        lengths = {s[case]["len"] for s in shards}
        assert len(lengths) == 1  # every rank runs the same number of steps
        length = lengths.pop()
        assert length == (11 // WORLD if case == "drop" else -(-11 // WORLD))
        for epoch in range(2):
            per_rank = [s[case]["epochs"][epoch] for s in shards]
            assert all(len(p) == length for p in per_rank)
            together = sorted(i for p in per_rank for i in p)
            if case == "drop":  # disjoint; one index dropped
                assert len(set(together)) == len(together) == 10
            else:  # covers 0..10 once, plus one repeated index as padding
                assert set(together) == set(range(11)) and len(together) == 12
        if case != "plain":  # a fresh shared permutation per epoch
            assert shards[0][case]["epochs"][0] != shards[0][case]["epochs"][1]
    assert shards[0]["plain"]["epochs"][0] == [0, 2, 4, 6, 8, 10]


def test_mismatched_models_are_reported_on_every_rank(checks: Path) -> None:
    messages = read(checks, "mismatch")
    assert messages[0] == messages[1]  # both ranks raise: nobody hangs
    assert "rank 1 differs from rank 0" in messages[0]
    assert "'4.weight' of shape (27, 4)" in messages[0] and "'4.weight' of shape (27, 5)" in messages[0]


@pytest.mark.parametrize("case", list(workload.CASES))
def test_two_ranks_equal_one_process_with_the_double_batch(checks: Path, case: str) -> None:
    dtype = workload.CASES[case][0]
    ranks = [dict(np.load(checks / f"train_{case}_rank{r}.npz")) for r in range(WORLD)]
    # ranks started from different weights (seeds 0 and 1): rank 0's were broadcast
    reference = workload.train(case, rank=0, world=1, batch=WORLD * workload.PER_RANK_BATCH, init_seed=0)
    wrong = workload.train(case, rank=0, world=1, batch=workload.PER_RANK_BATCH, init_seed=0)
    rtol, atol = (2e-5, 1e-6) if dtype == "float32" else (1e-10, 1e-12)
    for name, ref in reference.items():
        assert ranks[0][name].dtype == ref.dtype
        np.testing.assert_array_equal(ranks[0][name], ranks[1][name])  # ranks stay identical
        np.testing.assert_allclose(ranks[0][name], ref, rtol=rtol, atol=atol, err_msg=name)
    # the comparison can fail: training at the per-rank batch alone ends elsewhere
    assert max(np.abs(wrong[k] - reference[k]).max() for k in reference) > 1e-3


@pytest.mark.parametrize("mode", ["hook", "context"])
def test_a_failing_rank_aborts_the_job(mode: str) -> None:
    result = run_mpi(WORLD, "mpi_abort.py", mode)
    assert result.returncode != 0
    assert "RuntimeError: rank 1 failed on purpose" in result.stdout
    assert "[minidl.distributed] rank 1 of 2 raised; aborting the job" in result.stdout
    assert "must not happen" not in result.stdout


def test_fit_on_two_ranks_equals_fit_at_the_double_batch(checks: Path) -> None:
    ranks = [dict(np.load(checks / f"fit_rank{r}.npz")) for r in range(WORLD)]
    histories = read(checks, "fit_history")
    reference, ref_history = workload.fit(WORLD * workload.PER_RANK_BATCH, init_seed=0)
    for name, ref in reference.items():
        np.testing.assert_array_equal(ranks[0][name], ranks[1][name])
        np.testing.assert_allclose(ranks[0][name], ref, rtol=2e-5, atol=1e-6, err_msg=name)
    assert histories[0] == histories[1]  # metrics are totals over all ranks
    assert set(histories[0]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    for key, values in ref_history.items():
        np.testing.assert_allclose(histories[0][key], values, rtol=1e-5, err_msg=key)


def test_the_mnist_example_trains_under_mpiexec(shared_data: Path, tmp_path: Path) -> None:
    result = run_mpi(WORLD, str(ROOT / "examples" / "mnist.py"), "--distributed", "--epochs", "1",
                     "--limit", "512", "--shift", "0", "--data-root", str(shared_data),
                     "--out", str(tmp_path))
    assert result.returncode == 0, result.stdout
    assert "at batch 128 per rank on 2 ranks" in result.stdout
    assert result.stdout.count("test accuracy") == 1  # only rank 0 prints
    assert (tmp_path / "model.npz").is_file() and (tmp_path / "summary.json").is_file()
    assert json.loads((tmp_path / "summary.json").read_text())["ranks"] == WORLD
