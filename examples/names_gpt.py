"""Write surnames with a small decoder-only Transformer, one character at a time.

    python examples/names_gpt.py                       # the defaults: 1.87 nats/char held out,
                                                       # about 75 s of CPU (one core does the work)
    python examples/names_gpt.py --epochs 1 --limit 2000 --out /tmp/gpt   # a smoke test

Each name becomes the token sequence [language, c1, ..., cn, end]; the model reads a
prefix and predicts the next token, so it learns P(name | language) character by
character. A causal mask keeps every position from seeing the future. 10% of the names
of every language are held out; the script prints the held-out loss in nats per
predicted character (the end token included), samples ten surnames for a few languages,
and writes the weights, a loss-curve PNG and a JSON summary into --out.

Architecture (GPT-style, pre-norm): token embedding + learned position embedding ->
`--layers` TransformerEncoderLayer(norm_first=True, GELU) under a causal mask ->
LayerNorm -> Dense to the vocabulary.
"""
from __future__ import annotations

import os

# The products here are small (a few thousand rows x 64): one BLAS thread runs them
# fastest and keeps threads from spinning against each other. Set before NumPy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

import minidl as md
import minidl.functional as F
from minidl import nn, optim

PAD, END = 0, 1  # then one token per language, then one per character


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate of AdamW")
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--data-root", type=Path, default=None, help="folder holding names/ (or the *.txt)")
    p.add_argument("--out", type=Path, default=Path("runs/names_gpt"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=None, help="use a random subset of N names: a smoke test")
    return p.parse_args(argv)


# ---- data -----------------------------------------------------------------------------------

class Vocab:
    """Token ids: PAD, END, one per language, one per character."""

    def __init__(self, names: list[str], languages: list[str]) -> None:
        self.languages = languages
        self.chars = sorted({ch for name in names for ch in name})
        self.first_char = 2 + len(languages)
        self.char_id = {ch: self.first_char + i for i, ch in enumerate(self.chars)}
        self.size = self.first_char + len(self.chars)

    def encode(self, name: str, language: int) -> np.ndarray:
        return np.array([2 + language, *(self.char_id[ch] for ch in name), END], dtype=np.int64)

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i - self.first_char] for i in ids if i >= self.first_char)


def split(labels: np.ndarray, rng: np.random.Generator, held_out: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Indices of train and held-out names: `held_out` of every language, at least one."""
    train, test = [], []
    for language in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == language))
        k = max(1, round(len(idx) * held_out))
        test.append(idx[:k])
        train.append(idx[k:])
    return np.concatenate(train), np.concatenate(test)


def pad(seqs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(inputs (N, T), targets (N, T)): targets are inputs shifted by one, PAD past the end."""
    width = max(len(s) for s in seqs) - 1
    inputs = np.full((len(seqs), width), PAD, dtype=np.int64)
    targets = np.full((len(seqs), width), PAD, dtype=np.int64)
    for row, s in enumerate(seqs):
        inputs[row, :len(s) - 1] = s[:-1]
        targets[row, :len(s) - 1] = s[1:]
    return inputs, targets


def batches(seqs: list[np.ndarray], indices: np.ndarray, size: int,
            rng: np.random.Generator | None = None):
    """(inputs, targets) for groups of names of similar length (little padding); with `rng`,
    random within a length and the groups in random order, so training still sees a mix."""
    lengths = np.array([len(seqs[i]) for i in indices])
    jitter = rng.random(len(indices)) if rng is not None else np.zeros(len(indices))
    order = indices[np.lexsort((jitter, lengths))]
    groups = [order[s:s + size] for s in range(0, len(order), size)]
    if rng is not None:
        groups = [groups[i] for i in rng.permutation(len(groups))]
    for group in groups:
        yield pad([seqs[i] for i in group])


# ---- model ----------------------------------------------------------------------------------

class NameGPT(nn.Module):
    """tokens (N, T) -> next-token logits (N, T, V)."""

    def __init__(self, vocab: int, context: int, d_model: int, heads: int, layers: int,
                 dropout: float) -> None:
        super().__init__()
        self.token = nn.Embedding(vocab, d_model)
        self.position = nn.Parameter(md.randn(context, d_model).data * 0.02)
        block = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, dropout, "gelu", norm_first=True)
        self.blocks = nn.TransformerEncoder(block, layers)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Dense(d_model, vocab)

    def forward(self, tokens: md.Tensor) -> md.Tensor:
        t = tokens.shape[1]
        x = self.token(tokens) + self.position[:t]
        causal = np.triu(np.ones((t, t), dtype=bool), k=1)  # True = may not look (nn masks)
        return self.head(self.norm(self.blocks(x, mask=causal, is_causal=True)))


def token_loss(logits: md.Tensor, targets: np.ndarray) -> tuple[md.Tensor, int]:
    """Mean cross-entropy over the real (non-PAD) target tokens, and their count."""
    real = targets != PAD
    n, t, v = logits.shape
    ids = md.tensor(targets.reshape(-1), device=logits.device)  # where the logits are
    per_token = F.cross_entropy(logits.reshape(n * t, v), ids, reduction="none")
    count = int(real.sum())
    weights = md.tensor(real.reshape(-1), dtype=logits.dtype, device=logits.device)
    return (per_token * weights).sum() / count, count


def held_out_loss(model: NameGPT, seqs: list[np.ndarray], order: np.ndarray, size: int) -> float:
    """Nats per predicted character over the held-out names."""
    model.eval()
    total, count = 0.0, 0
    with md.no_grad():
        for inputs, targets in batches(seqs, order, size):
            loss, n = token_loss(model(md.tensor(inputs)), targets)
            total += loss.item() * n
            count += n
    model.train()
    return total / count


def sample(model: NameGPT, vocab: Vocab, language: int, rng: np.random.Generator, context: int) -> str:
    """One surname, drawn token by token until END."""
    model.eval()
    ids = [2 + language]
    with md.no_grad():
        while len(ids) < context:
            logits = model(md.tensor(np.array([ids])))[0, -1].numpy().astype(np.float64)
            p = np.exp(logits - logits.max())
            nxt = int(rng.choice(len(p), p=p / p.sum()))
            if nxt == END or nxt < vocab.first_char:
                break
            ids.append(nxt)
    model.train()
    return vocab.decode(ids)


# ---- main -----------------------------------------------------------------------------------

class Corpus:
    """The names as token sequences, split into train and held-out indices."""

    def __init__(self, args: argparse.Namespace, rng: np.random.Generator) -> None:
        names, labels, self.languages = md.datasets.load_names(args.data_root)
        if args.limit:
            keep = rng.permutation(len(names))[:args.limit]
            names, labels = [names[i] for i in keep], labels[keep]
        self.vocab = Vocab(names, self.languages)
        self.seqs = [self.vocab.encode(name, int(lang)) for name, lang in zip(names, labels)]
        self.context = max(len(s) for s in self.seqs) - 1
        self.train, self.test = split(labels, rng)

    def epoch(self, batch_size: int, rng: np.random.Generator):
        return batches(self.seqs, self.train, batch_size, rng)

    def steps_per_epoch(self, batch_size: int) -> int:
        return -(-len(self.train) // batch_size)


def build_model(args: argparse.Namespace, corpus: Corpus) -> NameGPT:
    return NameGPT(corpus.vocab.size, corpus.context, args.d_model, args.heads, args.layers, args.dropout)


def lr_factor(step: int, steps: int, warmup: int = 100) -> float:
    """A short linear warm-up (attention is unstable at full rate from step 0), then a
    linear decay to 5% of the peak over `steps`."""
    return min(1.0, (step + 1) / warmup) * max(0.05, 1 - step / steps)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    md.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    corpus = Corpus(args, rng)
    seqs, train, test, languages = corpus.seqs, corpus.train, corpus.test, corpus.languages
    vocab, context = corpus.vocab, corpus.context
    print(f"{len(seqs)} names in {len(languages)} languages; {len(train)} to train, "
          f"{len(test)} held out; vocabulary {vocab.size}, context {context}")

    model = build_model(args, corpus)
    steps = args.epochs * corpus.steps_per_epoch(args.batch_size)
    opt = optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    schedule = optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, steps))
    history: dict[str, list[float]] = {"loss": [], "val_loss": []}
    start, cpu_start = time.perf_counter(), time.process_time()
    for epoch in range(args.epochs):
        bar = tqdm(corpus.epoch(args.batch_size, rng), total=corpus.steps_per_epoch(args.batch_size),
                   desc=f"epoch {epoch + 1}/{args.epochs}", unit="batch")
        total, count = 0.0, 0
        for inputs, targets in bar:
            loss, n = token_loss(model(md.tensor(inputs)), targets)
            opt.zero_grad()
            loss.backward()
            md.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            schedule.step()
            total += loss.item() * n
            count += n
            bar.set_postfix(loss=f"{total / count:.3f}")
        history["loss"].append(total / count)
        history["val_loss"].append(held_out_loss(model, seqs, test, 256))
        print(f"epoch {epoch + 1}: train {history['loss'][-1]:.4f}, held-out "
              f"{history['val_loss'][-1]:.4f} nats/char")
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    final = history["val_loss"][-1]
    print(f"held-out loss: {final:.4f} nats per character (training {seconds:.0f} s wall, "
          f"{cpu_seconds:.0f} s CPU)")

    samples = {}
    for language in [lang for lang in ("English", "Russian", "Italian", "Japanese") if lang in languages]:
        index = languages.index(language)
        samples[language] = [sample(model, vocab, index, rng, context) for _ in range(10)]
        print(f"{language}: {', '.join(samples[language])}")

    args.out.mkdir(parents=True, exist_ok=True)
    md.save(model.state_dict(), args.out / "model.npz")
    plot(history, args.out / "curves.png")
    summary = {"held_out_loss": final, "history": history, "seconds": seconds,
               "cpu_seconds": cpu_seconds, "samples": samples,
               "train_names": int(len(train)), "held_out_names": int(len(test)),
               "parameters": int(sum(p.size for p in model.parameters()))}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def plot(history: dict[str, list[float]], path: Path) -> None:
    from matplotlib.figure import Figure  # noqa: PLC0415 - only when saving

    fig = Figure(figsize=(5, 3.6), layout="constrained")
    ax = fig.subplots()
    epochs = np.arange(1, len(history["loss"]) + 1)
    ax.plot(epochs, history["loss"], "o-", label="train")
    ax.plot(epochs, history["val_loss"], "s--", label="held out")
    ax.set_xlabel("epoch")
    ax.set_ylabel("nats per character")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
