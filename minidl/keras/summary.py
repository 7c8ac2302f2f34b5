"""`model.summary()` as Keras 3 prints it: a boxed table (layer (type), output shape,
parameter count) sized to the terminal (at most 88 columns), then the totals."""
from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

from minidl.nn.summary import readable_bytes

_POSITIONS = (0.45, 0.80, 1.0)
_HEADER = ("Layer (type)", "Output Shape", "Param #")


def column_widths(line_length: int, positions: Any = None) -> list[int]:
    """Each column's width inside its borders: Keras's positions, shrunk evenly (as the
    `rich` table Keras draws with) until the table fits `line_length`."""
    widths, current = [], 0
    positions = _POSITIONS if positions is None else positions
    if len(positions) != 3:
        raise ValueError(f"summary: positions needs 3 column edges, got {positions!r}")
    for pos in (p / line_length if p > 1 else p for p in positions):
        widths.append(int(pos * line_length) - current + 2)  # + the cell's padding
        current = int(pos * line_length)
    excess = sum(widths) - (line_length - len(widths) - 1)  # the borders take the rest
    if excess > 0:
        remaining, ratio = excess, len(widths)
        for i, width in enumerate(widths):
            cut = min(width, round(remaining / ratio))
            widths[i] = width - cut
            remaining -= cut
            ratio -= 1
    return widths


def _wrap(text: str, width: int) -> list[str]:
    """Word-wrapped lines of at most `width` characters (a longer word is cut), as rich."""
    lines: list[str] = []
    for word in text.split(" "):
        while len(word) > width:
            lines.append(word[:width])
            word = word[width:]
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def _cell_lines(text: str, width: int, right: bool) -> list[str]:
    inner = width - 2
    return [" " + (c.rjust(inner) if right else c.ljust(inner)) + " " for c in _wrap(text, inner)]


def _row(cells: tuple[str, str, str], widths: list[int], bar: str) -> list[str]:
    columns = [_cell_lines(c, w, i == 2) for i, (c, w) in enumerate(zip(cells, widths))]
    height = max(len(c) for c in columns)
    lines = []
    for k in range(height):
        parts = [c[k] if k < len(c) else " " * w for c, w in zip(columns, widths)]
        lines.append(bar + bar.join(parts) + bar)
    return lines


def _rule(widths: list[int], left: str, mid: str, right: str, fill: str) -> str:
    return left + mid.join(fill * w for w in widths) + right


def summary_text(name: str, rows: list[tuple[str, str, str]], counts: dict[str, tuple[int, int]],
                 line_length: int | None = None, positions: Any = None) -> str:
    """The whole summary; `counts` maps "Total", "Trainable", "Non-trainable" (and
    "Optimizer", when built) to (number of values, bytes)."""
    columns = shutil.get_terminal_size().columns
    if line_length is None:
        line_length = min(88, columns - 4)
    widths = column_widths(line_length, positions)
    lines = [f'Model: "{name}"', _rule(widths, "┏", "┳", "┓", "━")]
    lines += _row(_HEADER, widths, "┃")
    lines.append(_rule(widths, "┡", "╇", "┩", "━"))
    for i, row in enumerate(rows):
        if i:
            lines.append(_rule(widths, "├", "┼", "┤", "─"))
        lines += _row(row, widths, "│")
    lines.append(_rule(widths, "└", "┴", "┘", "─"))
    lines = [line[:columns] for line in lines]  # a table wider than the terminal is cropped
    for label, (count, size) in counts.items():
        lines.append(f" {label} params: {count:,} ({readable_bytes(size)})")
    return "\n".join(lines)


def print_summary(model: Any, line_length: int | None = None, positions: Any = None,
                  print_fn: Callable[[str], Any] | None = None) -> None:
    rows = []
    for layer in model.layers:
        shape = "?" if not layer.built else _shape_text(layer.output_shape_built)
        params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
        rows.append((f"{layer.name} ({type(layer).__name__})", shape, params))
    weights = model.weights
    trainable = [p for p in weights if p.requires_grad]
    frozen = [p for p in weights if not p.requires_grad]
    counts = {"Trainable": _count(trainable), "Non-trainable": _count(frozen)}
    opt = _optimizer_count(model, trainable)
    total = [a + b for a, b in zip(counts["Trainable"], counts["Non-trainable"])]
    if opt is not None:
        total = [a + b for a, b in zip(total, opt)]
    text = summary_text(model.name, rows, {"Total": tuple(total), **counts,
                                           **({"Optimizer": opt} if opt is not None else {})},
                        line_length, positions)
    if print_fn is None:
        print(text)
    else:
        print_fn(text + "\n")  # Keras hands over the whole captured console output


def _count(params: list[Any]) -> tuple[int, int]:
    return sum(p.size for p in params), sum(p.size * p.dtype.itemsize for p in params)


def _optimizer_count(model: Any, trainable: list[Any]) -> tuple[int, int] | None:
    """Keras counts the optimizer's variables once it is built: its iteration counter and
    learning rate (4 bytes each) and its slots (m, v, ...) per trainable weight."""
    opt = getattr(model, "optimizer", None)
    if opt is None or not getattr(opt, "built", False):
        return None
    slots = getattr(opt, "slots_per_weight", 0)
    n, size = _count(trainable)
    return 2 + slots * n, 8 + slots * size


def _shape_text(shape: Any) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + (",)" if len(shape) == 1 else ")")
