"""Classify surnames by language, one character at a time: Embedding -> LSTM -> Dense.

    python examples/names_lstm.py                 # the defaults
    python examples/names_lstm.py --epochs 2 --limit 2000 --out /tmp/names   # a smoke test

Names of different lengths share a batch by padding on the right; the classifier
reads the LSTM output at each name's LAST REAL character (index length-1), never
at a pad, so padding cannot change a prediction. Batches group names of similar
length (length bucketing) so little time is spent on pads. The split is
stratified 80/20 per language. Writes per-language accuracy, a confusion-matrix
PNG and a JSON summary into --out.
"""
from __future__ import annotations

import os

# The products here are small (batch x 128 x 512): one BLAS thread runs them fastest and
# avoids threads spinning against each other on a busy machine. Set before NumPy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

import minidl as md
import minidl.functional as F
from minidl import nn, optim

PAD = 0  # id 0 is padding; characters get ids 1..V


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-3, help="peak learning rate of Adam")
    p.add_argument("--embed", type=int, default=32)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--dropout", type=float, default=0.5, help="dropout on the final hidden state")
    p.add_argument("--backend", choices=["numpy", "cupy"], default="numpy")
    p.add_argument("--data-root", type=Path, default=None, help="folder holding names/ (or the *.txt)")
    p.add_argument("--out", type=Path, default=Path("runs/names_lstm"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=None, help="use a random subset of N names: a smoke test")
    return p.parse_args(argv)


# ---- data -----------------------------------------------------------------------------------

def encode(names: list[str]) -> tuple[list[np.ndarray], dict[str, int]]:
    """Each name as an int64 array of character ids (1..V); the vocabulary."""
    vocab = {ch: i + 1 for i, ch in enumerate(sorted({ch for name in names for ch in name}))}
    return [np.array([vocab[ch] for ch in name], dtype=np.int64) for name in names], vocab


def stratified_split(labels: np.ndarray, test_fraction: float, rng: np.random.Generator
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) holding `test_fraction` of every class in the test part."""
    train, test = [], []
    for k in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == k))
        n_test = max(1, round(len(members) * test_fraction)) if len(members) > 1 else 0
        test.append(members[:n_test])
        train.append(members[n_test:])
    return np.concatenate(train), np.concatenate(test)


def batches(sequences: list[np.ndarray], labels: np.ndarray, indices: np.ndarray, batch_size: int,
            rng: np.random.Generator | None = None):
    """Yield (ids (N, T) padded with PAD, lengths (N,), labels (N,)) for groups of similar length.

    Sorting by length (random order within a length when shuffling) keeps padding
    small; the order of the batches is shuffled so training still sees a mix.
    """
    lengths = np.array([len(sequences[i]) for i in indices])
    jitter = rng.random(len(indices)) if rng is not None else np.zeros(len(indices))
    order = indices[np.lexsort((jitter, lengths))]
    groups = [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
    if rng is not None:
        groups = [groups[i] for i in rng.permutation(len(groups))]
    for group in groups:
        lens = np.array([len(sequences[i]) for i in group])
        ids = np.full((len(group), lens.max()), PAD, dtype=np.int64)
        for row, i in enumerate(group):
            ids[row, :lens[row]] = sequences[i]
        yield md.tensor(ids), lens, md.tensor(labels[group])


# ---- model ----------------------------------------------------------------------------------

class NameClassifier(nn.Module):
    """ids (N, T) -> Embedding (N, T, E) -> LSTM (N, T, H) -> h at the last real step -> (N, K)."""

    def __init__(self, vocab_size: int, embed: int, hidden: int, classes: int, dropout: float = 0.0
                 ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size + 1, embed)  # +1 for PAD
        self.lstm = nn.LSTM(embed, hidden)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Dense(hidden, classes)

    def forward(self, ids: md.Tensor, lengths: np.ndarray) -> md.Tensor:
        outputs, _ = self.lstm(self.embedding(ids))             # (N, T, H)
        rows = md.arange(len(lengths), device=ids.device)          # index arrays live where the
        steps = md.tensor(lengths - 1, device=ids.device)          # data lives (CPU or GPU)
        last = outputs[rows, steps]                                 # (N, H): last real character
        return self.head(self.dropout(last))


def one_cycle(step: int, total: int, peak: float, warmup: float = 0.1) -> float:
    """Learning rate at `step`: linear warm-up to `peak`, then cosine decay to zero."""
    rise = max(1, int(total * warmup))
    if step < rise:
        return peak * (step + 1) / rise
    return peak * 0.5 * (1 + math.cos(math.pi * (step - rise) / max(1, total - rise)))


def predict(model: NameClassifier, sequences, labels, indices, batch_size: int = 512
            ) -> tuple[np.ndarray, np.ndarray]:
    """(true labels, predicted labels) for `indices`, in eval mode without gradients."""
    model.eval()
    truth, guess = [], []
    with md.no_grad():
        for ids, lens, y in batches(sequences, labels, indices, batch_size):
            truth.append(y.numpy())
            guess.append(model(ids, lens).argmax(axis=1).numpy())
    model.train()
    return np.concatenate(truth), np.concatenate(guess)


def confusion_matrix(truth: np.ndarray, guess: np.ndarray, classes: int) -> np.ndarray:
    """counts[i, j]: names of language i predicted as language j."""
    counts = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(counts, (truth, guess), 1)
    return counts


def plot_confusion(counts: np.ndarray, languages: list[str], path: Path, title: str) -> None:
    from matplotlib.figure import Figure  # optional: pip install "minidl[plot]"

    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig = Figure(figsize=(8, 7), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(languages)), languages, rotation=90)
    ax.set_yticks(range(len(languages)), languages)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true language")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="fraction of the true language")
    fig.savefig(path, dpi=110)


# ---- main -----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    md.set_backend(args.backend)
    md.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    names, labels, languages = md.datasets.load_names(md.datasets.find_data_root(args.data_root))
    if args.limit:
        keep = np.sort(rng.choice(len(names), size=min(args.limit, len(names)), replace=False))
        names, labels = [names[i] for i in keep], labels[keep]
    sequences, vocab = encode(names)
    train_idx, test_idx = stratified_split(labels, 0.2, rng)
    majority = np.bincount(labels[test_idx], minlength=len(languages)).max() / len(test_idx)
    print(f"{len(names):,} names, {len(languages)} languages, {len(vocab)} characters; "
          f"train {len(train_idx):,} / test {len(test_idx):,} (majority class {majority:.1%})")

    model = NameClassifier(len(vocab), args.embed, args.hidden, len(languages), args.dropout).to(args.backend)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    steps_per_epoch = math.ceil(len(train_idx) / args.batch_size)
    total_steps, step = args.epochs * steps_per_epoch, 0

    start = time.perf_counter()
    history: dict[str, list[float]] = {"loss": [], "test_accuracy": []}
    for epoch in range(1, args.epochs + 1):
        loss_sum, seen = md.tensor(0.0), 0
        bar = tqdm(batches(sequences, labels, train_idx, args.batch_size, rng), total=steps_per_epoch,
                   desc=f"epoch {epoch}/{args.epochs}", leave=False, unit="batch", disable=None)
        for ids, lens, y in bar:
            for group in optimizer.param_groups:
                group["lr"] = one_cycle(step, total_steps, args.lr)
            loss = F.cross_entropy(model(ids, lens), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            seen += len(lens)
            loss_sum = loss_sum + loss.detach() * len(lens)
        truth, guess = predict(model, sequences, labels, test_idx)
        history["loss"].append(loss_sum.item() / seen)
        history["test_accuracy"].append(float((truth == guess).mean()))
        print(f"epoch {epoch:2d}/{args.epochs}  loss {history['loss'][-1]:.4f}  "
              f"test acc {history['test_accuracy'][-1]:.4f}  ({time.perf_counter() - start:.0f} s)")
    total = time.perf_counter() - start

    counts = confusion_matrix(truth, guess, len(languages))
    per_class = {lang: float(counts[k, k] / max(counts[k].sum(), 1)) for k, lang in enumerate(languages)}
    print("per-language test accuracy:")
    for k, lang in enumerate(languages):
        print(f"  {lang:<11} {per_class[lang]:6.1%}  ({counts[k].sum()} names)")
    accuracy = history["test_accuracy"][-1]
    print(f"held-out accuracy {accuracy:.2%} on {len(test_idx):,} names; time {total:.1f} s")

    args.out.mkdir(parents=True, exist_ok=True)
    md.save(model.state_dict(), args.out / "model.npz")
    try:
        plot_confusion(counts, languages, args.out / "confusion.png",
                       f"surname -> language, held-out accuracy {accuracy:.1%}")
    except ImportError as exc:
        print(f"no plot (matplotlib missing: pip install 'minidl[plot]'): {exc}")
    summary = {"test_accuracy": accuracy, "per_class_accuracy": per_class, "seconds_total": total,
               "names": len(names), "train": len(train_idx), "test": len(test_idx),
               "majority_class": float(majority), "history": history, "languages": languages,
               "confusion": counts.tolist(), "backend": md.get_backend(),
               "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"saved {args.out / 'model.npz'}, {args.out / 'confusion.png'} and {args.out / 'summary.json'}")
    return summary


if __name__ == "__main__":
    main()
