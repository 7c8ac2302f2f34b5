"""The benchmark models, built the same way in minidl and in PyTorch.

Both frameworks load the same initial weights (PyTorch's default scheme, uniform in
+-1/sqrt(fan_in), drawn once with NumPy), so a training run computes the same numbers
in both and the timings compare like with like. Weights are kept in minidl's layout
(Dense weight (in, out), LSTM weights (in, 4H) with one bias, GRU weights (in, 3H) with
two biases) and transposed for torch.

Models (input: real MNIST digits, reshaped or resized to each model's input shape; the
timing depends on the shapes, not on the values):
- "cnn":  Conv2D(1,32,3) -> ReLU -> MaxPool2D(2) -> Flatten -> Dense(5408,128) -> ReLU -> Dense(128,10)
- "bncnn": the seed CNN with BatchNorm2D(32) after the convolution (batch statistics, as in
  training; the normalisation starts at weight 1, bias 0 in both frameworks)
- "mlp":  784 -> 128 -> 64 -> 32 -> 10 with ReLU between
- "widemlp": 784 -> 1024 -> 1024 -> 10 with ReLU between
- "cifar": a CIFAR-sized CNN on 32x32x3 (the digit padded to 32x32, in all three channels):
  Conv 3-32, Conv 32-32 (3x3, padding 1, ReLU), MaxPool 2, Conv 32-64, Conv 64-64, MaxPool 2,
  Dense 4096-256, ReLU, Dense 256-10
- "binary": the seed's binary CNN on 150x150x3 (the digit resized, nearest neighbour):
  Conv 3-32, MaxPool, Conv 32-64, MaxPool, Conv 64-128, MaxPool (3x3 valid, ReLU), Dense
  36992-512, ReLU, Dropout(0.5), Dense 512-1; binary cross-entropy on logits, target the
  digit's parity
- "lstm": LSTM over the 28 rows (T=28, input 28, hidden 128), last step -> Dense(128,10)
- "gru":  a text classifier: Embedding(1000, 64) -> GRU(64, 256) over T=50 token ids, last
          step -> Dense(256, 2). The ids are read from the image bytes and the target is
          the digit's parity.
- "textlstm": the same text classifier with LSTM(64, 256) in place of the GRU

On the names corpus (input: the length-bucketed token batches of examples/names_gpt.py):
- "gpt": the example's NameGPT at its default size; the initial weights are minidl's own
  initialisation (md.manual_seed(seed)), copied into the PyTorch twin (`torch_name_gpt`).
  A step is the example's: token cross-entropy over the non-PAD targets, backward,
  clip_grad_norm_(1.0), AdamW(weight_decay=0.01).
"""
from __future__ import annotations

import functools
import importlib.util
import itertools
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
LSTM_HIDDEN = 128
TEXT_VOCAB, TEXT_EMBED, TEXT_HIDDEN, TEXT_STEPS = 1000, 64, 256, 50


def _chain(*sizes: int) -> list[tuple]:
    """Dense layers of these sizes with ReLU between."""
    layers: list[tuple] = []
    for fi, fo in itertools.pairwise(sizes):
        layers += [("dense", fi, fo), ("relu",)]
    return layers[:-1]


def _conv_block(*channels: int, padding: int) -> list[tuple]:
    layers: list[tuple] = []
    for ci, co in itertools.pairwise(channels):
        layers += [("conv", ci, co, 3, padding), ("relu",)]
    return layers


# Sequential models as layer specs: ("conv", C_in, C_out, k, padding), ("bn", C), ("relu",),
# ("pool", k), ("flatten",), ("dense", in, out), ("dropout", p)
SEQUENTIAL: dict[str, list[tuple]] = {
    "cnn": [("conv", 1, 32, 3, 0), ("relu",), ("pool", 2), ("flatten",), *_chain(5408, 128, 10)],
    "bncnn": [("conv", 1, 32, 3, 0), ("bn", 32), ("relu",), ("pool", 2), ("flatten",),
              *_chain(5408, 128, 10)],
    "mlp": _chain(784, 128, 64, 32, 10),
    "widemlp": _chain(784, 1024, 1024, 10),
    "cifar": [*_conv_block(3, 32, 32, padding=1), ("pool", 2), *_conv_block(32, 64, 64, padding=1),
              ("pool", 2), ("flatten",), *_chain(4096, 256, 10)],
    "binary": [*_conv_block(3, 32, padding=0), ("pool", 2), *_conv_block(32, 64, padding=0), ("pool", 2),
               *_conv_block(64, 128, padding=0), ("pool", 2), ("flatten",), ("dense", 36992, 512),
               ("relu",), ("dropout", 0.5), ("dense", 512, 1)],
}
RECURRENT = ("lstm", "gru", "textlstm")
MODELS = (*SEQUENTIAL, *RECURRENT, "gpt")


def _uniform(rng: np.random.Generator, fan_in: int, shape: tuple[int, ...]) -> np.ndarray:
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(np.float32)


def _sequential_params(spec: list[tuple], rng: np.random.Generator) -> dict[str, np.ndarray]:
    out = {}
    for i, layer in enumerate(spec):
        if layer[0] == "conv":
            _, ci, co, k, _ = layer
            out[f"{i}.weight"] = _uniform(rng, ci * k * k, (co, ci, k, k))
            out[f"{i}.bias"] = _uniform(rng, ci * k * k, (co,))
        elif layer[0] == "dense":
            _, fi, fo = layer
            out[f"{i}.weight"] = _uniform(rng, fi, (fi, fo))
            out[f"{i}.bias"] = _uniform(rng, fi, (fo,))
    return out


def init_params(model: str, seed: int = 0) -> dict[str, np.ndarray]:
    """Framework-neutral initial weights in minidl's layout, keyed by minidl's names."""
    rng = np.random.default_rng(seed)
    if model in SEQUENTIAL:
        return _sequential_params(SEQUENTIAL[model], rng)
    if model == "lstm":
        h = LSTM_HIDDEN
        return {"lstm.weight_ih_l0": _uniform(rng, h, (28, 4 * h)),
                "lstm.weight_hh_l0": _uniform(rng, h, (h, 4 * h)),
                "lstm.bias_l0": _uniform(rng, h, (4 * h,)),
                "fc.weight": _uniform(rng, h, (h, 10)), "fc.bias": _uniform(rng, h, (10,))}
    if model in ("gru", "textlstm"):
        h, gates = TEXT_HIDDEN, (3 if model == "gru" else 4)
        out = {"embedding.weight": rng.standard_normal((TEXT_VOCAB, TEXT_EMBED)).astype(np.float32),
               "rnn.weight_ih_l0": _uniform(rng, h, (TEXT_EMBED, gates * h)),
               "rnn.weight_hh_l0": _uniform(rng, h, (h, gates * h))}
        if model == "gru":
            out["rnn.bias_ih_l0"] = _uniform(rng, h, (3 * h,))
            out["rnn.bias_hh_l0"] = _uniform(rng, h, (3 * h,))
        else:
            out["rnn.bias_l0"] = _uniform(rng, h, (4 * h,))
        return {**out, "fc.weight": _uniform(rng, h, (h, 2)), "fc.bias": _uniform(rng, h, (2,))}
    raise ValueError(f"unknown model {model!r}: expected one of {MODELS}")


def _resize_nearest(images: np.ndarray, size: int) -> np.ndarray:
    rows = np.arange(size) * images.shape[-1] // size
    return images[..., rows[:, None], rows[None, :]]


def model_input(model: str, images: np.ndarray) -> np.ndarray:
    """The array a model takes, from (N, 1, 28, 28) images: NCHW (1 or 3 channels), (N, 784),
    (N, T=28, 28), or (N, T=50) int64 token ids (sums of 15 pixel bytes each, modulo the
    vocabulary)."""
    n = len(images)
    if model in ("cnn", "bncnn"):
        return images
    if model in ("mlp", "widemlp"):
        return np.ascontiguousarray(images.reshape(n, 784))
    if model == "cifar":
        padded = np.pad(images, ((0, 0), (0, 0), (2, 2), (2, 2)))
        return np.ascontiguousarray(np.repeat(padded, 3, axis=1))
    if model == "binary":
        return np.ascontiguousarray(np.repeat(_resize_nearest(images, 150), 3, axis=1))
    if model in ("gru", "textlstm"):
        pixels = np.rint(images.reshape(n, 784)[:, : TEXT_STEPS * 15] * 255).astype(np.int64)
        return pixels.reshape(n, TEXT_STEPS, 15).sum(axis=2) % TEXT_VOCAB
    return np.ascontiguousarray(images.reshape(n, 28, 28))


def model_target(model: str, labels: np.ndarray) -> np.ndarray:
    """The targets a model is trained on: the digits, their parity for the 2-class text
    models, or the parity as a float32 (N, 1) column for "binary"."""
    if model == "binary":
        return (labels % 2).astype(np.float32).reshape(-1, 1)
    return labels % 2 if model in ("gru", "textlstm") else labels


def _load(net: Any, state: dict[str, Any], model: str) -> None:
    """load_state_dict; BatchNorm layers keep their own start (weight 1, bias 0)."""
    norms = {f"{i}." for i, layer in enumerate(SEQUENTIAL.get(model, [])) if layer[0] == "bn"}
    if not norms:
        net.load_state_dict(state)
        return
    missing, unexpected = net.load_state_dict(state, strict=False)
    if unexpected or any(key[: key.index(".") + 1] not in norms for key in missing):
        raise RuntimeError(f"{model} weights do not fit: missing {missing}, unexpected {unexpected}")


# ---- the same model in either framework -----------------------------------------------

def _classes(framework: str) -> dict[str, Any]:
    """The layer classes by kind: minidl's names, or PyTorch's."""
    if framework == "minidl":
        from minidl import nn

        return {"conv": nn.Conv2D, "bn": nn.BatchNorm2D, "pool": nn.MaxPool2D, "dense": nn.Dense,
                "relu": nn.ReLU, "flatten": nn.Flatten, "dropout": nn.Dropout, "module": nn.Module,
                "embedding": nn.Embedding, "lstm": nn.LSTM, "gru": nn.GRU}
    from torch import nn

    return {"conv": nn.Conv2d, "bn": nn.BatchNorm2d, "pool": nn.MaxPool2d, "dense": nn.Linear,
            "relu": nn.ReLU, "flatten": nn.Flatten, "dropout": nn.Dropout, "module": nn.Module,
            "embedding": nn.Embedding, "lstm": nn.LSTM, "gru": nn.GRU}


def _layer(layer: tuple, framework: str) -> Any:
    kind, *args = layer
    if kind == "conv":
        ci, co, k, padding = args
        return _classes(framework)["conv"](ci, co, k, padding=padding)
    return _classes(framework)[kind](*args)


def _recurrent_class(model: str, framework: str) -> type:
    nn = _classes(framework)

    class RecurrentClassifier(nn["module"]):
        """The last step's hidden state -> Dense; "gru"/"textlstm" read token ids."""

        def __init__(self) -> None:
            super().__init__()
            if model == "lstm":
                self.lstm = nn["lstm"](28, LSTM_HIDDEN, batch_first=True)
                self.fc = nn["dense"](LSTM_HIDDEN, 10)
                return
            self.embedding = nn["embedding"](TEXT_VOCAB, TEXT_EMBED)
            self.rnn = nn[model.removeprefix("text")](TEXT_EMBED, TEXT_HIDDEN, batch_first=True)
            self.fc = nn["dense"](TEXT_HIDDEN, 2)

        def forward(self, x: Any) -> Any:
            if model == "lstm":
                _, (h, _) = self.lstm(x)
            else:
                _, h = self.rnn(self.embedding(x))
                h = h if model == "gru" else h[0]
            return self.fc(h[-1])

    return RecurrentClassifier


# ---- minidl ---------------------------------------------------------------------------

def build_minidl(model: str, seed: int = 0, device: str = "numpy") -> Any:
    import minidl as md
    from minidl import nn

    if model in SEQUENTIAL:
        net = nn.Sequential(*(_layer(layer, "minidl") for layer in SEQUENTIAL[model]))
    elif model in RECURRENT:
        net = _recurrent_class(model, "minidl")()
    elif model == "gpt":
        net = minidl_name_gpt(seed)
    else:
        raise ValueError(f"unknown model {model!r}: expected one of {MODELS}")
    if model != "gpt":
        _load(net, init_params(model, seed), model)
    return net.to(device) if md.backend.normalize_backend(device) != "numpy" else net


def minidl_workload(model: str, device: str = "numpy", seed: int = 0
                    ) -> tuple[Callable[[Any, Any], Any], Callable[[Any], Any], Callable[[np.ndarray], Any]]:
    """(train_step(x, y) -> loss tensor, infer(x) -> logits, to_device(array))."""
    import minidl as md
    import minidl.functional as F
    from minidl import optim

    net = build_minidl(model, seed, device)
    if model == "gpt":
        opt = optim.AdamW(net.parameters(), lr=GPT_LR, weight_decay=0.01)
    else:
        opt = optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = F.binary_cross_entropy_with_logits if model == "binary" else F.cross_entropy

    def train_step(x: Any, y: Any) -> Any:
        opt.zero_grad()
        if model == "gpt":  # the example's loss: the mean over the non-PAD targets
            loss, _ = name_gpt().token_loss(net(x), y.numpy())
        else:
            loss = loss_fn(net(x), y)
        loss.backward()
        if model == "gpt":
            md.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        return loss

    def infer(x: Any) -> Any:
        with md.no_grad():
            return net(x)

    def to_device(a: np.ndarray) -> Any:
        return md.tensor(a, device=device)

    return train_step, infer, to_device


# ---- PyTorch --------------------------------------------------------------------------

def _torch_state(model: str, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """minidl's layout -> PyTorch's: 2-D weights transposed, the LSTM's one bias split in two."""
    state = {k: (v.T if v.ndim == 2 and k != "embedding.weight" else v) for k, v in params.items()}
    for key in [k for k in state if k.endswith("bias_l0")]:
        bias = state.pop(key)
        state[key.replace("bias_l0", "bias_ih_l0")] = bias
        state[key.replace("bias_l0", "bias_hh_l0")] = np.zeros_like(bias)
    return state


def build_torch(model: str, seed: int = 0, device: str = "cpu") -> Any:
    import torch
    from torch import nn

    if model == "gpt":
        return torch_name_gpt(build_minidl("gpt", seed)).to(device)
    if model in SEQUENTIAL:
        net = nn.Sequential(*(_layer(layer, "torch") for layer in SEQUENTIAL[model]))
    elif model in RECURRENT:
        net = _recurrent_class(model, "torch")()
    else:
        raise ValueError(f"unknown model {model!r}: expected one of {MODELS}")
    state = _torch_state(model, init_params(model, seed))
    _load(net, {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}, model)
    return net.to(device)


def torch_workload(model: str, device: str = "cpu", seed: int = 0
                   ) -> tuple[Callable[[Any, Any], Any], Callable[[Any], Any], Callable[[np.ndarray], Any]]:
    import torch
    import torch.nn.functional as F

    net = build_torch(model, seed, device)
    if model == "gpt":
        opt = torch.optim.AdamW(net.parameters(), lr=GPT_LR, weight_decay=0.01)
    else:
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = F.binary_cross_entropy_with_logits if model == "binary" else F.cross_entropy

    def train_step(x: Any, y: Any) -> Any:
        opt.zero_grad(set_to_none=True)
        if model == "gpt":
            logits = net(x)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                                   ignore_index=name_gpt().PAD)
        else:
            loss = loss_fn(net(x), y)
        loss.backward()
        if model == "gpt":
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        return loss

    def infer(x: Any) -> Any:
        with torch.inference_mode():
            return net(x)

    def to_device(a: np.ndarray) -> Any:
        return torch.from_numpy(a).to(device)

    return train_step, infer, to_device


# ---- names_gpt: the example's model and its PyTorch twin ---------------------------------

@functools.cache
def name_gpt() -> ModuleType:
    """examples/names_gpt.py as a module (its main() does not run)."""
    spec = importlib.util.spec_from_file_location("names_gpt_example", EXAMPLES / "names_gpt.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # where typing and inspect look a module's classes up
    spec.loader.exec_module(module)
    return module


@functools.cache
def gpt_corpus(seed: int = 0) -> Any:
    """The example's corpus and split at its default arguments (and `seed`)."""
    g = name_gpt()
    args = g.parse_args(["--seed", str(seed)])
    return g.Corpus(args, np.random.default_rng(seed))


GPT_LR = 3e-3  # the benchmark step's fixed rate (the example's peak)


def minidl_name_gpt(seed: int = 0, argv: tuple[str, ...] = ()) -> Any:
    """The example's NameGPT as the example builds it: md.manual_seed(seed), then the model."""
    import minidl as md

    g = name_gpt()
    args = g.parse_args(["--seed", str(seed), *argv])
    md.manual_seed(seed)
    return g.build_model(args, gpt_corpus(seed))


def _torch_name_gpt_class() -> type:
    import torch
    from torch import nn

    class NameGPT(nn.Module):
        """names_gpt.NameGPT in PyTorch: the same submodule names and order."""

        def __init__(self, vocab: int, context: int, d_model: int, heads: int, layers: int,
                     dropout: float) -> None:
            super().__init__()
            self.token = nn.Embedding(vocab, d_model)
            self.position = nn.Parameter(torch.zeros(context, d_model))
            block = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, dropout, "gelu",
                                               batch_first=True, norm_first=True)
            self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(d_model)
            self.head = nn.Linear(d_model, vocab)

        def forward(self, tokens: Any) -> Any:
            t = tokens.shape[1]
            x = self.token(tokens) + self.position[:t]
            causal = torch.triu(torch.ones(t, t, dtype=torch.bool, device=tokens.device), diagonal=1)
            return self.head(self.norm(self.blocks(x, mask=causal, is_causal=True)))

    return NameGPT


def torch_name_gpt(minidl_model: Any) -> Any:
    """The PyTorch twin of a minidl NameGPT, holding the same weights: minidl keeps Dense
    weights (in, out) and in_proj_weight (E, 3E), PyTorch (out, in) and (3E, E)."""
    import torch

    m = minidl_model
    layer = m.blocks.layers[0]
    net = _torch_name_gpt_class()(m.token.num_embeddings, m.position.shape[0], m.token.embedding_dim,
                                  layer.self_attn.num_heads, len(m.blocks.layers), layer.dropout.p)
    state = {}
    for key, value in m.state_dict().items():
        value = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
        transposed = value.ndim == 2 and key.endswith("weight") and key != "token.weight"
        state[key] = torch.from_numpy(np.ascontiguousarray(value.T if transposed else value))
    net.load_state_dict(state)
    return net


def gpt_batches(batch: int, count: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """`count` training batches (inputs, targets) of about `batch` names each, as the
    example's first epoch draws them (similar lengths together; cycling when short)."""
    corpus = gpt_corpus(seed)
    out = list(itertools.islice(corpus.epoch(batch, np.random.default_rng(seed)), count))
    return [out[k % len(out)] for k in range(count)]
