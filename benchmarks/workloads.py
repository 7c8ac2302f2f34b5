"""One timed step of a benchmark case for a framework, with its data on the device.

A case is "model:mode:batch" (model: one of benchmarks.models.MODELS, on MNIST images
reshaped to its input, or "gpt" on the names corpus's token batches; mode train|infer). Frameworks:
"minidl", "minidl-cupy", "torch", "torch-cuda".
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks import data, models

FRAMEWORKS = ("minidl", "minidl-cupy", "torch", "torch-cuda")
POOL_BYTES = 32 << 20  # at most this much input data held per case (both frameworks alike)


def unavailable_reason(framework: str) -> str | None:
    """None when the framework can run here, else why not."""
    if framework == "minidl":
        return None
    if framework == "minidl-cupy":
        import minidl as md

        return None if md.cuda_available() else "minidl-cupy needs CuPy and an NVIDIA GPU"
    try:
        import torch
    except ImportError:
        return "PyTorch is not installed (pip install torch)"
    if framework == "torch-cuda" and not torch.cuda.is_available():
        return "torch-cuda needs a CUDA build of PyTorch and a GPU"
    return None


def parts(framework: str, model: str) -> tuple[Callable, Callable, Callable, Callable]:
    """(train_step(x, y), infer(x), to_device(array), synchronize())."""
    if framework.startswith("minidl"):
        device = "cupy" if framework == "minidl-cupy" else "numpy"
        train, infer, to_dev = models.minidl_workload(model, device)
        if device == "cupy":
            import cupy

            return train, infer, to_dev, cupy.cuda.Device().synchronize
        return train, infer, to_dev, lambda: None
    device = "cuda" if framework == "torch-cuda" else "cpu"
    train, infer, to_dev = models.torch_workload(model, device)
    if device == "cuda":
        import torch

        return train, infer, to_dev, torch.cuda.synchronize
    return train, infer, to_dev, lambda: None


def queued_step(framework: str, case: str, images: Any, labels: Any, pool: int
                ) -> tuple[Callable[[int], None], Callable[[], None]]:
    """(step(k), synchronize()): step(k) queues the k-th batch of a cycling pool of `pool`
    batches, already on the device, and does not wait for it (time around a sync)."""
    model, mode, batch_s = case.split(":")
    train, infer, to_dev, sync = parts(framework, model)
    if model == "gpt":
        pairs = models.gpt_batches(int(batch_s), pool)
    else:
        first = models.model_input(model, data.batches(images, labels, int(batch_s), 1)[0][0])
        pool = min(pool, max(2, POOL_BYTES // first.nbytes))  # the large images: fewer batches
        pairs = [(models.model_input(model, x), models.model_target(model, y))
                 for x, y in data.batches(images, labels, int(batch_s), pool)]
    batches = [(to_dev(x), to_dev(y)) for x, y in pairs]

    def step(k: int) -> None:
        x, y = batches[k % len(batches)]
        if mode == "train":
            train(x, y)
        else:
            infer(x)

    return step, sync


def make_step(framework: str, case: str, pool: int = 16, data_limit: int = 8000
              ) -> tuple[Callable[[int], None], str | None]:
    """(step(k), None) running the k-th batch of a cycling pool, synchronised; or
    (None, reason) when the framework is unavailable."""
    reason = unavailable_reason(framework)
    if reason:
        return None, reason  # type: ignore[return-value]
    step, sync = queued_step(framework, case, *data.load_mnist(data_limit), pool)

    def synced(k: int) -> None:
        step(k)
        sync()

    return synced, None
