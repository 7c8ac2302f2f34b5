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
"""
from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

MODELS = ("cnn", "mlp", "lstm", "gru")
MLP_SIZES = (784, 128, 64, 32, 10)
LSTM_HIDDEN = 128
GRU_VOCAB, GRU_EMBED, GRU_HIDDEN, GRU_STEPS = 1000, 64, 256, 50


def _uniform(rng: np.random.Generator, fan_in: int, shape: tuple[int, ...]) -> np.ndarray:
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(np.float32)


def init_params(model: str, seed: int = 0) -> dict[str, np.ndarray]:
    """Framework-neutral initial weights in minidl's layout, keyed by minidl's names."""
    rng = np.random.default_rng(seed)
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
    if model == "cnn":
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
    elif model == "lstm":
        net = _MinidlLSTMClassifier()
    elif model == "gru":
        net = _minidl_gru_class()()
    else:
        raise ValueError(f"unknown model {model!r}: expected one of {MODELS}")
    net.load_state_dict(init_params(model, seed))
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
    opt = optim.Adam(net.parameters(), lr=1e-3)

    def train_step(x: Any, y: Any) -> Any:
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
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

    params = init_params(model, seed)
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
    net.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()})
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
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def train_step(x: Any, y: Any) -> Any:
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss

    def infer(x: Any) -> Any:
        with torch.inference_mode():
            return net(x)

    def to_device(a: np.ndarray) -> Any:
        return torch.from_numpy(a).to(device)

    return train_step, infer, to_device
