"""Train examples/names_gpt.py's model in minidl and its PyTorch twin on the same schedule
and print both held-out losses (nats per character): the twin check of benchmarks/models.py.

    python -m benchmarks.names_gpt_twin                     # the example's defaults
    python -m benchmarks.names_gpt_twin --epochs 1 --limit 2000

Both start from minidl's initial weights (md.manual_seed(seed), copied into PyTorch by
`models.torch_name_gpt`) and see the same batches in the same order (the example's
Corpus and generator); AdamW, the example's warm-up/decay and gradient clipping in each
framework's own terms. Each framework trains in its own process. With dropout > 0 the
two draw different dropout masks, so the losses agree statistically, not bit for bit.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]


def _minidl_parts(model: Any) -> tuple[Any, Any, Any]:
    import minidl as md

    g = _example()

    def to_batch(inputs: Any, targets: Any) -> tuple[Any, Any]:
        return md.tensor(inputs), targets

    def loss_of(model: Any, batch: tuple[Any, Any]) -> tuple[Any, int]:
        return g.token_loss(model(batch[0]), batch[1])

    return to_batch, loss_of, md.clip_grad_norm_


def _torch_parts(model: Any) -> tuple[Any, Any, Any]:
    import torch
    import torch.nn.functional as F

    g = _example()

    def to_batch(inputs: Any, targets: Any) -> tuple[Any, Any]:
        return torch.from_numpy(inputs), torch.from_numpy(targets)

    def loss_of(model: Any, batch: tuple[Any, Any]) -> tuple[Any, int]:
        logits = model(batch[0])
        count = int((batch[1] != g.PAD).sum())
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[1].reshape(-1),
                               ignore_index=g.PAD)
        return loss, count

    return to_batch, loss_of, torch.nn.utils.clip_grad_norm_


def _example() -> Any:
    from benchmarks import models

    return models.name_gpt()


def train(framework: str, argv: list[str]) -> dict[str, Any]:
    """One framework's run of the example's schedule: its held-out loss and times."""
    import numpy as np

    import minidl as md
    from benchmarks import models

    g = _example()
    args = g.parse_args(argv)
    md.manual_seed(args.seed)  # as the example's main(): the same draws in the same order
    rng = np.random.default_rng(args.seed)
    corpus = g.Corpus(args, rng)
    model = g.build_model(args, corpus)
    steps = args.epochs * corpus.steps_per_epoch(args.batch_size)
    if framework == "torch":
        import torch

        torch.set_num_threads(int(os.environ.get("TWIN_THREADS", "2")))
        model = models.torch_name_gpt(model)
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
        schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: g.lr_factor(s, steps))
        no_grad, (to_batch, loss_of, clip) = torch.no_grad, _torch_parts(model)
    else:
        from minidl import optim

        opt = optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
        schedule = optim.lr_scheduler.LambdaLR(opt, lambda s: g.lr_factor(s, steps))
        no_grad, (to_batch, loss_of, clip) = md.no_grad, _minidl_parts(model)
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(args.epochs):
        for inputs, targets in corpus.epoch(args.batch_size, rng):
            loss, _ = loss_of(model, to_batch(inputs, targets))
            opt.zero_grad()
            loss.backward()
            clip(model.parameters(), 1.0)
            opt.step()
            schedule.step()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    model.eval()
    total, count = 0.0, 0
    with no_grad():
        for inputs, targets in g.batches(corpus.seqs, corpus.test, 256):
            loss, n = loss_of(model, to_batch(inputs, targets))
            total += float(loss.item()) * n
            count += n
    return {"framework": framework, "held_out_loss": total / count, "seconds": seconds,
            "cpu_seconds": cpu_seconds}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.names_gpt_twin",
                                description=__doc__.split("\n")[0],
                                epilog="other arguments go to the example's parser (--epochs, --limit, ...)")
    p.add_argument("--worker", choices=["minidl", "torch"], help=argparse.SUPPRESS)
    ours, rest = p.parse_known_args(argv)
    if ours.worker:
        print("RESULT " + json.dumps(train(ours.worker, rest)), flush=True)
        return 0
    env = dict(os.environ, PYTHONPATH=str(PROJECT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    results = {}
    for framework in ("minidl", "torch"):
        # minidl as the example runs it: one BLAS thread (set before NumPy loads)
        extra = {"OPENBLAS_NUM_THREADS": "1"} if framework == "minidl" else {}
        proc = subprocess.run([sys.executable, "-m", "benchmarks.names_gpt_twin", "--worker", framework,
                               *rest], cwd=PROJECT, env=dict(env, **extra), capture_output=True,
                              text=True, check=False)
        line = next((x for x in reversed(proc.stdout.splitlines()) if x.startswith("RESULT ")), None)
        if line is None:
            raise RuntimeError(f"{framework} run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
        results[framework] = r = json.loads(line[len("RESULT "):])
        print(f"{framework:7s} held-out loss {r['held_out_loss']:.4f} nats/char "
              f"(training {r['seconds']:.0f} s wall, {r['cpu_seconds']:.0f} s CPU)", flush=True)
    a, b = results["minidl"]["held_out_loss"], results["torch"]["held_out_loss"]
    gap = abs(a - b) / b
    print(f"relative difference {gap:.2%} ({'within' if gap <= 0.02 else 'NOT within'} 2%)")
    return 0 if gap <= 0.02 else 1


if __name__ == "__main__":
    sys.exit(main())
