"""The benchmark models, built the same way in minidl and in PyTorch.

Both frameworks load the same initial weights (PyTorch's default scheme, uniform in
+-1/sqrt(fan_in), drawn once with NumPy), so a training run computes the same numbers
in both and the timings compare like with like. Weights are kept in minidl's layout
(Dense weight (in, out), LSTM weights (in, 4H) with one bias, GRU weights (in, 3H) with
two biases) and transposed for torch.

Models (input: real MNIST digits):
- "cnn":  Conv2D(1,32,3) -> ReLU -> MaxPool2D(2) -> Flatten -> Dense(5408,128) -> ReLU -> Dense(128,10)
- "mlp":  784 -> 128 -> 64 -> 32 -> 10 with ReLU between
- "lstm": LSTM over the 28 rows (T=28, input 28, hidden 128), last step -> Dense(128,10)
- "gru":  a text classifier: Embedding(1000, 64) -> GRU(64, 256) over T=50 token ids, last
          step -> Dense(256, 2). The ids are read from the image bytes and the target is
          the digit's parity (the timing depends on the shapes, not on the values).
- "bncnn": the seed CNN with BatchNorm2D(32) after the convolution (batch statistics, as in
  training; the normalisation starts at weight 1, bias 0 in both frameworks)

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

MODELS = ("cnn", "mlp", "lstm", "gru", "bncnn", "gpt")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MLP_SIZES = (784, 128, 64, 32, 10)
LSTM_HIDDEN = 128
GRU_VOCAB, GRU_EMBED, GRU_HIDDEN, GRU_STEPS = 1000, 64, 256, 50


def _uniform(rng: np.random.Generator, fan_in: int, shape: tuple[int, ...]) -> np.ndarray:
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(np.float32)


def init_params(model: str, seed: int = 0) -> dict[str, np.ndarray]:
    """Framework-neutral initial weights in minidl's layout, keyed by minidl's names."""
    rng = np.random.default_rng(seed)
    if model == "bncnn":  # the seed CNN's draws, the Dense layers two places later
        cnn = init_params("cnn", seed)
        return {"0.weight": cnn["0.weight"], "0.bias": cnn["0.bias"], "5.weight": cnn["4.weight"],
                "5.bias": cnn["4.bias"], "7.weight": cnn["6.weight"], "7.bias": cnn["6.bias"]}
    if model == "cnn":
        return {"0.weight": _uniform(rng, 9, (32, 1, 3, 3)), "0.bias": _uniform(rng, 9, (32,)),
                "4.weight": _uniform(rng, 5408, (5408, 128)), "4.bias": _uniform(rng, 5408, (128,)),
                "6.weight": _uniform(rng, 128, (128, 10)), "6.bias": _uniform(rng, 128, (10,))}
    if model == "mlp":
        out = {}
        for k, (fi, fo) in enumerate(itertools.pairwise(MLP_SIZES)):
            out[f"{2 * k}.weight"] = _uniform(rng, fi, (fi, fo))
            out[f"{2 * k}.bias"] = _uniform(rng, fi, (fo,))
        return out
    if model == "lstm":
        h = LSTM_HIDDEN
        return {"lstm.weight_ih_l0": _uniform(rng, h, (28, 4 * h)),
                "lstm.weight_hh_l0": _uniform(rng, h, (h, 4 * h)),
                "lstm.bias_l0": _uniform(rng, h, (4 * h,)),
                "fc.weight": _uniform(rng, h, (h, 10)), "fc.bias": _uniform(rng, h, (10,))}
    if model == "gru":
        h = GRU_HIDDEN
        return {"embedding.weight": rng.standard_normal((GRU_VOCAB, GRU_EMBED)).astype(np.float32),
                "gru.weight_ih_l0": _uniform(rng, h, (GRU_EMBED, 3 * h)),
                "gru.weight_hh_l0": _uniform(rng, h, (h, 3 * h)),
                "gru.bias_ih_l0": _uniform(rng, h, (3 * h,)), "gru.bias_hh_l0": _uniform(rng, h, (3 * h,)),
                "fc.weight": _uniform(rng, h, (h, 2)), "fc.bias": _uniform(rng, h, (2,))}
    raise ValueError(f"unknown model {model!r}: expected one of {MODELS}")


def model_input(model: str, images: np.ndarray) -> np.ndarray:
    """The array a model takes, from (N, 1, 28, 28) images: NCHW, (N, 784), (N, T=28, 28),
    or (N, T=50) int64 token ids (sums of 15 pixel bytes each, modulo the vocabulary)."""
    if model in ("cnn", "bncnn"):
        return images
    if model == "mlp":
        return np.ascontiguousarray(images.reshape(len(images), 784))
    if model == "gru":
        pixels = np.rint(images.reshape(len(images), 784)[:, : GRU_STEPS * 15] * 255).astype(np.int64)
        return pixels.reshape(len(images), GRU_STEPS, 15).sum(axis=2) % GRU_VOCAB
    return np.ascontiguousarray(images.reshape(len(images), 28, 28))


def model_target(model: str, labels: np.ndarray) -> np.ndarray:
    """The class ids a model is trained on: the digits, or their parity for the 2-class "gru"."""
    return labels % 2 if model == "gru" else labels


def _load(net: Any, state: dict[str, Any], model: str) -> None:
    """load_state_dict; the BatchNorm layer (index 1 of "bncnn") keeps its own start."""
    if model != "bncnn":
        net.load_state_dict(state)
        return
    missing, unexpected = net.load_state_dict(state, strict=False)
    if unexpected or any(not key.startswith("1.") for key in missing):
        raise RuntimeError(f"bncnn weights do not fit: missing {missing}, unexpected {unexpected}")


# ---- minidl ---------------------------------------------------------------------------

def build_minidl(model: str, seed: int = 0, device: str = "numpy") -> Any:
    import minidl as md
    from minidl import nn

    if model == "cnn":
        net = nn.Sequential(nn.Conv2D(1, 32, 3), nn.ReLU(), nn.MaxPool2D(2), nn.Flatten(),
                            nn.Dense(5408, 128), nn.ReLU(), nn.Dense(128, 10))
    elif model == "mlp":
        layers: list[Any] = []
        for fi, fo in itertools.pairwise(MLP_SIZES):
            layers += [nn.Dense(fi, fo), nn.ReLU()]
        net = nn.Sequential(*layers[:-1])
    elif model == "bncnn":
        net = nn.Sequential(nn.Conv2D(1, 32, 3), nn.BatchNorm2D(32), nn.ReLU(), nn.MaxPool2D(2),
                            nn.Flatten(), nn.Dense(5408, 128), nn.ReLU(), nn.Dense(128, 10))
    elif model == "lstm":
        net = _MinidlLSTMClassifier()
    elif model == "gru":
        net = _minidl_gru_class()()
    elif model == "gpt":
        net = minidl_name_gpt(seed)
    else:
        raise ValueError(f"unknown model {model!r}: expected one of {MODELS}")
    if model != "gpt":
        _load(net, init_params(model, seed), model)
    return net.to(device) if md.backend.normalize_backend(device) != "numpy" else net


def _minidl_lstm_class() -> type:
    from minidl import nn

    class LSTMClassifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(28, LSTM_HIDDEN, batch_first=True)
            self.fc = nn.Dense(LSTM_HIDDEN, 10)

        def forward(self, x: Any) -> Any:
            _, (h, _) = self.lstm(x)
            return self.fc(h[-1])

    return LSTMClassifier


def _MinidlLSTMClassifier() -> Any:
    return _minidl_lstm_class()()


def _minidl_gru_class() -> type:
    from minidl import nn

    class GRUTextClassifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(GRU_VOCAB, GRU_EMBED)
            self.gru = nn.GRU(GRU_EMBED, GRU_HIDDEN, batch_first=True)
            self.fc = nn.Dense(GRU_HIDDEN, 2)

        def forward(self, ids: Any) -> Any:
            _, h = self.gru(self.embedding(ids))
            return self.fc(h[-1])

    return GRUTextClassifier


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

    def train_step(x: Any, y: Any) -> Any:
        opt.zero_grad()
        if model == "gpt":  # the example's loss: the mean over the non-PAD targets
            loss, _ = name_gpt().token_loss(net(x), y.numpy())
        else:
            loss = F.cross_entropy(net(x), y)
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

def build_torch(model: str, seed: int = 0, device: str = "cpu") -> Any:
    import torch
    from torch import nn

    params = init_params(model, seed) if model != "gpt" else {}
    if model == "cnn":
        net = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                            nn.Linear(5408, 128), nn.ReLU(), nn.Linear(128, 10))
        state = {k: (v.T if v.ndim == 2 else v) for k, v in params.items()}
    elif model == "mlp":
        layers: list[Any] = []
        for fi, fo in itertools.pairwise(MLP_SIZES):
            layers += [nn.Linear(fi, fo), nn.ReLU()]
        net = nn.Sequential(*layers[:-1])
        state = {k: (v.T if v.ndim == 2 else v) for k, v in params.items()}
    elif model == "bncnn":
        net = nn.Sequential(nn.Conv2d(1, 32, 3), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Flatten(), nn.Linear(5408, 128), nn.ReLU(), nn.Linear(128, 10))
        state = {k: (v.T if v.ndim == 2 else v) for k, v in params.items()}
    elif model == "gpt":
        return torch_name_gpt(build_minidl("gpt", seed)).to(device)
    elif model == "lstm":
        net = _torch_lstm_class()()
        state = {"lstm.weight_ih_l0": params["lstm.weight_ih_l0"].T,
                 "lstm.weight_hh_l0": params["lstm.weight_hh_l0"].T,
                 "lstm.bias_ih_l0": params["lstm.bias_l0"],
                 "lstm.bias_hh_l0": np.zeros_like(params["lstm.bias_l0"]),
                 "fc.weight": params["fc.weight"].T, "fc.bias": params["fc.bias"]}
    elif model == "gru":
        net = _torch_gru_class()()
        state = {k: (v.T if v.ndim == 2 and k != "embedding.weight" else v) for k, v in params.items()}
    else:
        raise ValueError(f"unknown model {model!r}: expected one of {MODELS}")
    _load(net, {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}, model)
    return net.to(device)


def _torch_lstm_class() -> type:
    from torch import nn

    class LSTMClassifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(28, LSTM_HIDDEN, batch_first=True)
            self.fc = nn.Linear(LSTM_HIDDEN, 10)

        def forward(self, x: Any) -> Any:
            _, (h, _) = self.lstm(x)
            return self.fc(h[-1])

    return LSTMClassifier


def _torch_gru_class() -> type:
    from torch import nn

    class GRUTextClassifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(GRU_VOCAB, GRU_EMBED)
            self.gru = nn.GRU(GRU_EMBED, GRU_HIDDEN, batch_first=True)
            self.fc = nn.Linear(GRU_HIDDEN, 2)

        def forward(self, ids: Any) -> Any:
            _, h = self.gru(self.embedding(ids))
            return self.fc(h[-1])

    return GRUTextClassifier


def torch_workload(model: str, device: str = "cpu", seed: int = 0
                   ) -> tuple[Callable[[Any, Any], Any], Callable[[Any], Any], Callable[[np.ndarray], Any]]:
    import torch
    import torch.nn.functional as F

    net = build_torch(model, seed, device)
    if model == "gpt":
        opt = torch.optim.AdamW(net.parameters(), lr=GPT_LR, weight_decay=0.01)
    else:
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def train_step(x: Any, y: Any) -> Any:
        opt.zero_grad(set_to_none=True)
        if model == "gpt":
            logits = net(x)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                                   ignore_index=name_gpt().PAD)
        else:
            loss = F.cross_entropy(net(x), y)
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
