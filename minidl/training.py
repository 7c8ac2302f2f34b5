"""Keras-style training for `nn.Sequential`: compile, fit, evaluate, predict, History.

Everything here is built from the same public pieces a hand-written PyTorch-style
loop uses (DataLoader, an optimizer, a loss function), so reading `fit` shows
exactly what one epoch does. Shapes: x (N, ...), y (N,) class ids or (N, K).
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from minidl import backend as B
from minidl.autograd import no_grad
from minidl.autograd.tensor import Tensor
from minidl.data import DataLoader, TensorDataset

LossFn = Callable[[Tensor, Tensor], Tensor]

_LOSS_NAMES = {
    "mse": "mse", "mean_squared_error": "mse",
    "cross_entropy": "cross_entropy", "sparse_categorical_crossentropy": "cross_entropy",
    "categorical_crossentropy": "cross_entropy",
}
_METRICS = {"accuracy": "accuracy", "acc": "accuracy"}
_REFRESH_S = 0.5  # read loss values back from the device at most this often


@dataclass
class Compiled:
    """What `compile` fixed: the optimizer, the loss and the metrics to report."""

    optimizer: Any
    loss: LossFn
    metrics: tuple[str, ...]
    cross_entropy: bool  # the loss is cross-entropy, so probability targets also have an accuracy


class History:
    """Per-epoch logs of `fit`: `history["loss"]`, `["accuracy"]`, `["val_loss"]`, `["val_accuracy"]`."""

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def append(self, logs: dict[str, float]) -> None:
        self.epoch.append(len(self.epoch))
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def plot(self, path: str | Path, title: str | None = None) -> Path:
        """Draw loss (and accuracy, when logged) per epoch into a PNG at `path`."""
        Figure = _matplotlib_figure("History.plot")
        panels = [k for k in ("loss", "accuracy") if k in self.history]
        fig = Figure(figsize=(5 * max(len(panels), 1), 3.6), layout="constrained")
        axes = fig.subplots(1, max(len(panels), 1), squeeze=False)[0]
        epochs = np.arange(1, len(self.epoch) + 1)
        for ax, key in zip(axes, panels):
            for prefix, style in (("", "o-"), ("val_", "s--")):
                if prefix + key in self.history:
                    ax.plot(epochs, self.history[prefix + key], style, label=prefix + key)
            ax.set_xlabel("epoch")
            ax.set_ylabel(key)
            ax.grid(alpha=0.3)
            ax.legend()
        if title:
            fig.suptitle(title)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        return path

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


def _matplotlib_figure(what: str) -> Any:
    """matplotlib's Figure class, imported only when a plot is asked for."""
    try:
        from matplotlib.figure import Figure  # noqa: PLC0415 - optional dependency
    except ImportError as exc:
        raise ImportError(f"{what} needs matplotlib: pip install 'minidl[plot]' "
                          f"(or pip install matplotlib)") from exc
    return Figure


# ---- compile --------------------------------------------------------------------------------

def compile(model: Any, optimizer: Any, loss: Any, metrics: Any = ("accuracy",)) -> None:  # noqa: A001
    """Fix the optimizer ("sgd", "adam", "adamw" or an object), the loss ("mse",
    "cross_entropy" or any callable `loss(pred, target) -> scalar Tensor`) and the metrics."""
    if isinstance(metrics, str):
        metrics = (metrics,)
    names = []
    for m in metrics or ():
        if m not in _METRICS:
            raise ValueError(f"compile: unknown metric {m!r}; expected one of {sorted(_METRICS)}")
        names.append(_METRICS[m])
    loss_fn, is_ce = _make_loss(loss)
    model._compiled = Compiled(_make_optimizer(optimizer, model), loss_fn, tuple(names), is_ce)


def _make_optimizer(optimizer: Any, model: Any) -> Any:
    if not isinstance(optimizer, str):
        if not (hasattr(optimizer, "step") and hasattr(optimizer, "zero_grad")):
            raise TypeError(f"compile: optimizer must be a name or have step() and zero_grad(), "
                            f"got {type(optimizer).__name__}")
        return optimizer
    from minidl import optim  # noqa: PLC0415 - optim imports nn, which imports this module's users

    makers = {"sgd": lambda p: optim.SGD(p, lr=0.01), "adam": lambda p: optim.Adam(p),
              "adamw": lambda p: optim.AdamW(p)}
    key = optimizer.lower()
    if key not in makers:
        raise ValueError(f"compile: unknown optimizer {optimizer!r}; expected one of {sorted(makers)} "
                         f"or an optimizer object")
    return makers[key](list(model.parameters()))


def _make_loss(loss: Any) -> tuple[LossFn, bool]:
    import minidl.functional as F  # noqa: PLC0415

    if isinstance(loss, str):
        key = _LOSS_NAMES.get(loss.lower())
        if key is None:
            raise ValueError(f"compile: unknown loss {loss!r}; expected one of {sorted(_LOSS_NAMES)} "
                             f"or a callable")
        return (F.cross_entropy, True) if key == "cross_entropy" else (F.mse_loss, False)
    if not callable(loss):
        raise TypeError(f"compile: loss must be a name or a callable, got {type(loss).__name__}")
    is_ce = loss is getattr(F, "cross_entropy", None) or type(loss).__name__ == "CrossEntropyLoss"
    return loss, is_ce


def _compiled(model: Any, what: str) -> Compiled:
    compiled = model.__dict__.get("_compiled")
    if compiled is None:
        raise RuntimeError(f"{what}: call model.compile(optimizer, loss) first")
    return compiled


# ---- running batches ------------------------------------------------------------------------

class _Meter:
    """Running loss and accuracy, summed on the device; read back only when asked."""

    def __init__(self, compiled: Compiled) -> None:
        self.compiled = compiled
        self.count = 0
        self.loss_sum: Any = 0.0
        self.correct: Any = None

    def add(self, loss: Tensor, out: Tensor, target: Tensor) -> None:
        n = len(out)
        value = loss.data if loss.size == 1 else loss.data.mean()
        self.loss_sum = self.loss_sum + value * n  # stays a device scalar on the GPU
        self.count += n
        hits = _correct(out, target, self.compiled)
        if hits is not None:
            self.correct = hits if self.correct is None else self.correct + hits

    def result(self, prefix: str = "") -> dict[str, float]:
        logs = {prefix + "loss": float(self.loss_sum) / max(self.count, 1)}
        if self.correct is not None:
            logs[prefix + "accuracy"] = float(self.correct) / max(self.count, 1)
        return logs


def _correct(out: Tensor, target: Tensor, compiled: Compiled) -> Any:
    """Number of right argmax predictions (a device scalar), or None where accuracy means nothing."""
    if "accuracy" not in compiled.metrics or out.ndim != 2:
        return None
    pred = out.data.argmax(axis=-1)
    if target.ndim == 1 and target.dtype.kind in "iu":
        return (pred == target.data).sum()
    if compiled.cross_entropy and target.shape == out.shape:  # class probabilities
        return (pred == target.data.argmax(axis=-1)).sum()
    return None


def _as_arrays(model: Any, x: Any, y: Any = None) -> tuple[Any, ...]:
    """Raw arrays for a TensorDataset; floating inputs are cast once to the model's dtype."""
    def raw(v: Any) -> Any:
        v = v.data if isinstance(v, Tensor) else v
        return v if B.is_array(v) else np.asarray(v)
    xa = raw(x)
    first = next(model.parameters(), None)
    if first is not None and xa.dtype.kind == "f" and xa.dtype != first.dtype:
        xa = xa.astype(first.dtype)
    return (xa,) if y is None else (xa, raw(y))


def _on_model(model: Any, batch: Tensor) -> Tensor:
    """The batch on the model's device (a model moved with .to("cuda") trains on the GPU
    from host data; the batch is copied once, before the step)."""
    first = next(model.parameters(), None)
    return batch if first is None else batch.to(first.device)


@contextmanager
def _evaluating(model: Any) -> Iterator[None]:
    """eval() and no_grad for the duration, then the model's previous mode back."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            yield
    finally:
        model.train(was_training)


class _Progress:
    """A tqdm bar for one epoch showing loss, accuracy and images/s, refreshed sparingly."""

    def __init__(self, steps: int, desc: str, enabled: bool) -> None:
        from tqdm import tqdm  # lazy: keeps `import minidl` light

        self.bar = tqdm(total=steps, desc=desc, unit="batch", dynamic_ncols=True, disable=not enabled)
        self.start = self.last = time.perf_counter()

    def step(self, meter: _Meter) -> None:
        now = time.perf_counter()
        if not self.bar.disable and now - self.last >= _REFRESH_S:
            self.last = now
            self.bar.set_postfix(self._postfix(meter.result(), meter.count, now), refresh=False)
        self.bar.update(1)

    def close(self, logs: dict[str, float], count: int) -> None:
        if not self.bar.disable:
            self.bar.set_postfix(self._postfix(logs, count, time.perf_counter()), refresh=True)
        self.bar.close()

    def _postfix(self, logs: dict[str, float], count: int, now: float) -> dict[str, str]:
        shown = {k: f"{v:.4f}" for k, v in logs.items()}
        shown["img/s"] = f"{count / max(now - self.start, 1e-9):.0f}"
        return shown


# ---- fit / evaluate / predict ---------------------------------------------------------------

def fit(model: Any, x: Any, y: Any, epochs: int = 1, batch_size: int = 32,
        validation_data: tuple[Any, Any] | None = None, shuffle: bool = True,
        verbose: int = 1) -> History:
    """Train for `epochs` passes over (x, y); returns the per-epoch History.

    verbose=1 draws a progress bar per epoch, 2 prints one line per epoch, 0 is silent.
    After `minidl.distributed.init()` on several ranks, each rank trains on its shard at
    `batch_size` per rank, gradients are averaged, and only rank 0 draws or prints.
    """
    compiled = _compiled(model, "fit")
    _check_fit_arguments(epochs, batch_size, validation_data, shuffle, verbose)
    arrays = _checked_data("fit", _as_arrays(model, x, y), ("x", "y"))
    if validation_data is not None:  # found now, not after a whole epoch
        _checked_data("fit", _as_arrays(model, *validation_data), ("validation_data[0]", "validation_data[1]"))
    dataset = TensorDataset(*arrays)
    par = _fit_sync(model, compiled.optimizer, len(dataset), shuffle)  # None in a job of one
    if par is None:
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=shuffle)
    else:
        loader = DataLoader(dataset, batch_size=batch_size, sampler=par.sampler)
        verbose = verbose if par.is_main else 0
    history = History()
    for epoch in range(epochs):
        if par is not None:
            par.start_epoch(epoch)
        model.train()
        meter = _Meter(compiled)
        bar = _Progress(len(loader), f"Epoch {epoch + 1}/{epochs}", enabled=verbose == 1)
        start = time.perf_counter()
        for xb, yb in loader:
            xb, yb = _on_model(model, xb), _on_model(model, yb)
            out = model(xb)
            loss = compiled.loss(out, yb)
            if loss.size != 1:  # a loss with reduction="none": train on its mean
                loss = loss.mean()
            compiled.optimizer.zero_grad()
            loss.backward()
            if par is not None:
                par.sync_gradients()  # nothing when the optimizer's own step hook averages
            compiled.optimizer.step()
            meter.add(loss, out, yb)
            bar.step(meter)
        if par is not None:  # logs over the whole dataset, identical on every rank
            meter.loss_sum, meter.correct, meter.count = par.sum_over_ranks(
                meter.loss_sum, meter.correct, meter.count)
        logs = meter.result()
        seconds = time.perf_counter() - start
        if validation_data is not None:
            logs.update(_evaluate_logs(model, *validation_data, batch_size=max(batch_size, 256),
                                       prefix="val_"))
        history.append(logs)
        bar.close(logs, meter.count)
        if verbose == 2:
            shown = "  ".join(f"{k}={v:.4f}" for k, v in logs.items())
            print(f"Epoch {epoch + 1}/{epochs}  {shown}  ({seconds:.1f}s, {meter.count / seconds:.0f} img/s)")
    return history


def _check_fit_arguments(epochs: Any, batch_size: Any, validation_data: Any, shuffle: Any,
                         verbose: Any) -> None:
    """Every argument of fit checked before the first step."""
    for name, value, low in (("epochs", epochs, 0), ("batch_size", batch_size, 1)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"fit: {name} must be an integer, got {value!r}")
        if value < low:
            raise ValueError(f"fit: {name} must be >= {low}, got {value}")
    if validation_data is not None and (not isinstance(validation_data, (tuple, list))
                                        or len(validation_data) != 2):
        got = (f"a {type(validation_data).__name__} of length {len(validation_data)}"
               if isinstance(validation_data, (tuple, list)) else type(validation_data).__name__)
        raise TypeError(f"fit: validation_data must be a pair (x_val, y_val), got {got}")
    if not isinstance(shuffle, (bool, np.bool_)):
        raise TypeError(f"fit: shuffle must be True or False, got {shuffle!r}")
    if isinstance(verbose, bool) or verbose not in (0, 1, 2):
        raise ValueError(f"fit: verbose must be 0, 1 or 2, got {verbose!r}")


def _checked_data(what: str, arrays: tuple[Any, ...], names: tuple[str, ...]) -> tuple[Any, ...]:
    """The arrays, refused when one has no sample axis, no samples, or a count unlike x's."""
    for name, a in zip(names, arrays):
        if a.ndim == 0:
            raise ValueError(f"{what}: {name} must have a sample axis (N, ...), got a scalar")
        if a.shape[0] == 0:
            raise ValueError(f"{what}: {name} is empty (shape {tuple(a.shape)}): there are no "
                             f"samples to {'train on' if what == 'fit' else what}")
    counts = [a.shape[0] for a in arrays]
    if len(set(counts)) > 1:
        raise ValueError(f"{what}: {names[0]} has {counts[0]} samples but {names[1]} has {counts[1]}")
    return arrays


def _fit_sync(model: Any, optimizer: Any, n_samples: int, shuffle: bool) -> Any:
    """minidl.distributed's FitSync when `init()` ran in a job of several ranks, else None.

    Asks `sys.modules`, not an import: `init()` loads minidl.distributed, and a job that
    never called it should not load it (nor the nn it imports) just to learn that."""
    state = sys.modules.get("minidl.distributed.state")
    if state is None or state.get_world_size() <= 1:
        return None
    from minidl.distributed.fit import FitSync  # noqa: PLC0415 - its package is loaded: init() ran

    return FitSync(model, optimizer, n_samples, shuffle)


def _evaluate_logs(model: Any, x: Any, y: Any, batch_size: int, prefix: str = "") -> dict[str, float]:
    compiled = _compiled(model, "evaluate")
    meter = _Meter(compiled)
    arrays = _checked_data("evaluate", _as_arrays(model, x, y), ("x", "y"))
    loader = DataLoader(TensorDataset(*arrays), batch_size=batch_size)
    with _evaluating(model):
        for xb, yb in loader:
            xb, yb = _on_model(model, xb), _on_model(model, yb)
            out = model(xb)
            meter.add(compiled.loss(out, yb), out, yb)
    return meter.result(prefix)


def evaluate(model: Any, x: Any, y: Any, batch_size: int = 256) -> tuple[float, float | None]:
    """(mean loss, accuracy) over (x, y) in eval mode without gradients.

    The accuracy is None where it means nothing (e.g. regression with "mse")."""
    logs = _evaluate_logs(model, x, y, batch_size)
    return logs["loss"], logs.get("accuracy")


def predict(model: Any, x: Any, batch_size: int = 256) -> np.ndarray:
    """The model's outputs for every row of x, as one NumPy array (eval mode, no gradients)."""
    arrays = _checked_data("predict", _as_arrays(model, x), ("x",))
    loader = DataLoader(TensorDataset(*arrays), batch_size=batch_size)
    outputs = []
    with _evaluating(model):
        for (xb,) in loader:
            outputs.append(model(_on_model(model, xb)).data)
    return B.to_numpy(B.array_module(*outputs).concatenate(outputs))
