"""A Keras-like summary table of a model: layers, output shapes, parameter counts."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minidl import backend as B
from minidl.autograd.grad_mode import no_grad
from minidl.autograd.tensor import Tensor
from minidl.nn.module import Module


def summary(model: Module, input_shape: Any = None, dtype: Any = "float32",
            print_fn: Callable[[str], Any] = print) -> None:
    """Print a table with one row per submodule (indented by nesting depth): name (type),
    output shape, and the number of parameters it holds (its whole subtree), then totals.

    `input_shape` is the shape of one input batch, batch axis included, e.g.
    (1, 1, 28, 28) (a list of shapes for several inputs); with it the model runs once on
    zeros of `dtype` under `no_grad` in eval mode (its modes are restored afterwards) to
    record each layer's output shape. Without it the shapes show as "?".
    """
    shapes = _trace_shapes(model, input_shape, dtype) if input_shape is not None else None
    print_fn(_format(model, input_shape, shapes))


def _trace_shapes(model: Module, input_shape: Any, dtype: Any) -> dict[int, str]:
    """Run the model on zeros, recording each module's output shape by id."""
    shapes: dict[int, str] = {}
    patched: list[tuple[Module, Any]] = []
    modes = [(m, m.training) for m in model.modules()]
    for m in model.modules():
        if any(m is q for q, _ in patched):
            continue
        patched.append((m, m.__dict__.get("forward")))
        object.__setattr__(m, "forward", _recording(m, m.forward, shapes))
    try:
        model.eval()  # no dropout draws: summary must not move the library RNG
        with no_grad():
            model(*_dummy_inputs(model, input_shape, dtype))
    finally:
        for m, own in patched:
            if own is None:
                m.__dict__.pop("forward", None)
            else:
                m.__dict__["forward"] = own
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
    return shapes


def _recording(module: Module, forward: Callable[..., Any], shapes: dict[int, str]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        out = forward(*args, **kwargs)
        shapes[id(module)] = _shape_text(out)
        return out
    return run


def _dummy_inputs(model: Module, input_shape: Any, dtype: Any) -> list[Tensor]:
    xp = B.module_for(B.backend_of_device(model.device))
    shapes = input_shape if _several(input_shape) else [input_shape]
    return [Tensor(xp.zeros(tuple(s), dtype=dtype)) for s in shapes]


def _shape_text(out: Any) -> str:
    if isinstance(out, (tuple, list)):
        return "[" + ", ".join(_shape_text(o) for o in out) + "]"
    shape = getattr(out, "shape", None)
    return str(tuple(shape)) if shape is not None else type(out).__name__


def _count(module: Module) -> int:
    return sum(p.size for p in module.parameters())


def readable_bytes(n: float) -> str:
    """A byte count as Keras prints it: "972.00 B", "2.65 MB"."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}"
        n /= 1024
    return ""


def _several(input_shape: Any) -> bool:
    return len(input_shape) > 0 and all(isinstance(s, (tuple, list)) for s in input_shape)


def _row(cells: tuple[str, str, str], widths: list[int]) -> str:
    return f"{cells[0]:<{widths[0]}}{cells[1]:<{widths[1]}}{cells[2]:>{widths[2]}}"


def _format(model: Module, input_shape: Any, shapes: dict[int, str] | None) -> str:
    named = [(n, m) for n, m in model.named_modules() if m is not model] or [("", model)]
    rows = [("Layer (type)", "Output Shape", "Param #")]
    for name, m in named:
        indent = "  " * name.count(".")
        label = f"{indent}{name} ({type(m).__name__})" if name else type(m).__name__
        shape = "?" if shapes is None else shapes.get(id(m), "-")  # "-": never called
        rows.append((label, shape, f"{_count(m):,}"))
    widths = [max(len(r[0]) for r in rows) + 3, max(len(r[1]) for r in rows) + 3,
              max(len(r[2]) for r in rows)]
    rule = "=" * sum(widths)
    params = list(model.parameters())
    trainable = [p for p in params if p.requires_grad]
    total, n_train = sum(p.size for p in params), sum(p.size for p in trainable)
    out = [f'Model: "{type(model).__name__}"']
    if input_shape is not None:
        given = [tuple(s) for s in input_shape] if _several(input_shape) else tuple(input_shape)
        out.append(f"Input shape: {given}")
    out += [_row(rows[0], widths), rule] + [_row(r, widths) for r in rows[1:]] + [rule]
    out.append(f"Total params: {total:,} ({readable_bytes(sum(p.size * p.dtype.itemsize for p in params))})")
    out.append(f"Trainable params: {n_train:,} "
               f"({readable_bytes(sum(p.size * p.dtype.itemsize for p in trainable))})")
    out.append(f"Non-trainable params: {total - n_train:,}")
    if shapes is None:
        out.append("(pass input_shape, batch axis included, to see output shapes)")
    return "\n".join(out)
