"""The GPU path end to end: every op, layer, loss and optimizer on CuPy equals NumPy.

float64 to about 1e-10 relative, float32 to about 1e-5. Also: models moved with
.to("cuda") train like on the CPU; state dicts cross devices as NumPy arrays;
manual_seed makes GPU runs repeatable; 1,000 steps leave the memory pool where it
was; a training step never waits for the GPU (no hidden host sync). Every test here
is marked `gpu` and skips, with the reason, where CuPy or a GPU is missing.
"""
from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import minidl as md
import minidl.functional as F
from minidl import nn, optim
from tests.conftest import GPU_REASON

pytestmark = pytest.mark.gpu

TOL = {"float64": {"rtol": 1e-10, "atol": 1e-12}, "float32": {"rtol": 1e-5, "atol": 1e-6}}


@pytest.fixture
def dev() -> str:
    """The device under test; the CPU (NumPy) is the reference it is compared with."""
    if not md.cuda_available():
        pytest.skip(GPU_REASON)
    return "cuda"


def _close(actual: Any, expected: Any, dtype: str, scale: float = 1.0) -> None:
    a = actual.numpy() if isinstance(actual, md.Tensor) else np.asarray(actual)
    e = expected.numpy() if isinstance(expected, md.Tensor) else np.asarray(expected)
    tol = TOL[dtype]
    np.testing.assert_allclose(a, e, rtol=tol["rtol"] * scale, atol=tol["atol"] * scale)


# ---- every op: forward value and every input gradient -------------------------------------

def _ids(shape: tuple[int, ...], high: int) -> Callable[[str], md.Tensor]:
    def make(device: str) -> md.Tensor:
        return md.tensor(np.random.default_rng(7).integers(0, high, size=shape), device=device)
    return make


def _probs(shape: tuple[int, ...]) -> Callable[[str], md.Tensor]:
    def make(device: str) -> md.Tensor:
        p = np.random.default_rng(8).random(shape)
        return md.tensor(p / p.sum(axis=-1, keepdims=True), device=device)
    return make


def _mask(shape: tuple[int, ...]) -> Callable[[str], md.Tensor]:
    def make(device: str) -> md.Tensor:
        return md.tensor(np.random.default_rng(9).random(shape) > 0.4, device=device)
    return make


# name -> (function of the inputs, float input shapes, extra non-float inputs (makers))
OPS: dict[str, tuple[Callable[..., Any], list[tuple[int, ...]], list[Any]]] = {
    "add": (lambda a, b: a + b, [(3, 4), (4,)], []),
    "sub": (lambda a, b: a - b, [(3, 1), (1, 4)], []),
    "mul": (lambda a, b: a * b, [(2, 3, 4), (3, 4)], []),
    "div": (lambda a, b: a / (b * b + 1), [(3, 4), (3, 4)], []),
    "neg_pos": (lambda a: -a + 2.5, [(5,)], []),
    "pow_scalar": (lambda a: (a * a + 1) ** 1.5, [(3, 4)], []),
    "pow_tensor": (lambda a, b: (a * a + 1) ** b, [(3, 4), (4,)], []),
    "exp_log_sqrt": (lambda a: (a.exp() + 1).log() + (a * a + 1).sqrt(), [(3, 4)], []),
    "abs_clip": (lambda a: a.abs() + a.clip(-0.3, 0.4), [(3, 4)], []),
    "astype": (lambda a: a.astype("float32").astype("float64") * a, [(3,)], []),
    "matmul": (lambda a, b: a @ b, [(3, 4), (4, 5)], []),
    "matmul_batched_1d": (lambda a, b, v: (a @ b) @ v, [(2, 3, 4), (4, 5), (5,)], []),
    "sum_mean": (lambda a: a.sum(axis=1) * a.mean(axis=(0, 2), keepdims=True).sum(), [(2, 3, 4)], []),
    "max_min": (lambda a: a.max(axis=0) + a.min(axis=1, keepdims=True).sum(), [(3, 4)], []),
    "var": (lambda a: a.var(axis=1), [(3, 5)], []),
    "reshape_transpose": (lambda a: a.reshape(4, 6).T.transpose(1, 0).reshape(2, 12), [(2, 3, 4)], []),
    "getitem_slice": (lambda a: a[1:, ::2] * 2, [(3, 5)], []),
    "getitem_int_array": (lambda a, i: a[i], [(5, 3)], [_ids((7,), 5)]),
    "getitem_bool_mask": (lambda a, m: a[m], [(4, 5)], [_mask((4, 5))]),
    "concatenate_stack": (lambda a, b: md.stack([md.concatenate([a, b], axis=1), md.concatenate([b, a], axis=1)]),
                          [(2, 3), (2, 3)], []),
    "where": (lambda a, b: md.where(a > b, a, b * 2), [(3, 4), (3, 4)], []),
    "relu_sigmoid_tanh": (lambda a: F.relu(a) + F.sigmoid(a) * F.tanh(a), [(3, 4)], []),
    "softmax": (lambda a: F.softmax(a, axis=0), [(3, 4)], []),
    "log_softmax": (lambda a: F.log_softmax(a * 100), [(3, 4)], []),
    "linear": (lambda x, w, b: F.linear(x, w, b), [(2, 3, 4), (4, 5), (5,)], []),
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=(1, 2), padding=1), [(2, 3, 5, 6), (4, 3, 3, 2), (4,)], []),
    "conv2d_strided": (lambda x, w: F.conv2d(x, w, stride=2), [(1, 2, 7, 7), (3, 2, 3, 3)], []),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2), [(2, 3, 6, 6)], []),
    "max_pool2d_overlap_pad": (lambda x: F.max_pool2d(x, 3, stride=1, padding=1), [(2, 2, 5, 4)], []),
    "dropout_eval": (lambda x: F.dropout(x, 0.5, training=False), [(3, 4)], []),
    "embedding": (lambda w, i: F.embedding(i, w), [(6, 3)], [_ids((2, 5), 6)]),
    "mse_loss": (lambda a, b: F.mse_loss(a, b) + F.mse_loss(a, b, reduction="sum"), [(3, 4), (3, 4)], []),
    "cross_entropy_index": (lambda z, t: F.cross_entropy(z, t) + F.cross_entropy(z * 5, t, reduction="sum"),
                            [(4, 5)], [_ids((4,), 5)]),
    "cross_entropy_smoothing": (lambda z, t: F.cross_entropy(z, t, label_smoothing=0.1, reduction="none"),
                                [(4, 5)], [_ids((4,), 5)]),
    "cross_entropy_probs": (lambda z, t: F.cross_entropy(z, t, label_smoothing=0.2), [(4, 5)], [_probs((4, 5))]),
    "bce_with_logits": (lambda z, t: F.binary_cross_entropy_with_logits(z, t.sigmoid()), [(3, 4), (3, 4)], []),
}


def _run_op(name: str, dtype: str, device: str) -> tuple[Any, list[Any]]:
    """The op's output and its inputs' gradients on one device (inputs drawn from one seed)."""
    fn, shapes, extras = OPS[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    xs = [md.tensor(rng.standard_normal(s), dtype=dtype, requires_grad=True, device=device) for s in shapes]
    out = fn(*xs, *(make(device) for make in extras))
    weights = np.random.default_rng(1).standard_normal(out.shape)
    (out * md.tensor(weights, dtype=dtype, device=device)).sum().backward()
    return out, [x.grad for x in xs]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(OPS))
def test_op_on_gpu_equals_numpy(dev, name, dtype):
    out_gpu, grads_gpu = _run_op(name, dtype, dev)
    out_cpu, grads_cpu = _run_op(name, dtype, "cpu")
    assert out_gpu.device == dev and out_gpu.dtype == out_cpu.dtype
    # log_softmax of 100x logits and the 5x cross-entropy carry values of O(100)
    scale = 100.0 if name in ("log_softmax", "cross_entropy_index") else 1.0
    _close(out_gpu, out_cpu, dtype, scale)
    for g_gpu, g_cpu in zip(grads_gpu, grads_cpu):
        assert (g_gpu is None) == (g_cpu is None)
        if g_gpu is not None:
            assert g_gpu.device == dev
            _close(g_gpu, g_cpu, dtype, scale)


def test_fused_kernels_run_on_gpu_arrays(dev):
    """The hot paths hand CuPy arrays to the CuPy kernels (not to the NumPy references)."""
    from minidl.kernels import loss, optim as optim_ref, recurrent  # noqa: PLC0415
    from minidl.kernels import _cuda as build  # noqa: PLC0415
    from minidl.kernels import activation, conv, pool  # noqa: PLC0415

    calls: list[str] = []
    real = build.launch

    def spy(source: str, name: str, *args: Any) -> None:
        calls.append(name)
        real(source, name, *args)

    cp = md.backend.get_cupy()
    x = cp.asarray(np.random.default_rng(0).standard_normal((2, 3, 6, 6)))
    build.launch = spy
    try:
        y, saved = conv.forward(x, cp.ones((4, 3, 3, 3)), None, (1, 1), (1, 1), (True, True, False))
        conv.backward(y, saved)
        y, saved = pool.forward(x, (2, 2), (2, 2), (0, 0), (True,))
        pool.backward(y, saved)
        y, saved = activation.relu_forward(x)
        activation.relu_backward(y, saved)
        z, c = cp.ones((2, 8)), cp.ones((2, 2))
        h, cn, saved = recurrent.lstm_cell_forward(z, c)
        recurrent.lstm_cell_backward(saved, h, None)
        h, saved = recurrent.gru_cell_forward(cp.ones((2, 6)), cp.ones((2, 6)), c)
        recurrent.gru_cell_backward(saved, h)
        lo, saved = loss.softmax_cross_entropy_forward(z, cp.zeros(2, dtype=cp.int64), 0.0)
        loss.softmax_cross_entropy_backward(saved, lo)
        optim_ref.sgd_update(c, c.copy(), None, 0.1, 0.0, 0.0, False, 0.0)
        optim_ref.adam_update(c, c.copy(), cp.zeros_like(c), cp.zeros_like(c), 1, 0.1, 0.9, 0.999,
                              1e-8, 0.0, False)
    finally:
        build.launch = real
    assert {"im2col", "col2im", "maxpool_forward", "maxpool_backward", "relu_forward", "relu_backward",
            "lstm_forward", "lstm_backward", "gru_forward", "gru_backward", "ce_forward_index", "ce_backward_index", "sgd_update",
            "adam_update"} <= set(calls)


# ---- layers, models, optimizers -----------------------------------------------------------

class _RowLSTM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(6, 5, num_layers=2)
        self.head = nn.Dense(5, 4)

    def forward(self, x: Any) -> Any:
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


class _RowGRU(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(6, 5, num_layers=2, bidirectional=True)
        self.head = nn.Dense(10, 4)

    def forward(self, x: Any) -> Any:
        out, _ = self.gru(x)
        return self.head(out[:, -1])


def _cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2D(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2D(2),
                         nn.Conv2D(4, 6, 3), nn.Tanh(), nn.MaxPool2D(2, stride=1), nn.Flatten(),
                         nn.Dense(6 * 2 * 2, 4))


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Dense(36, 16), nn.Sigmoid(), nn.Dropout(0.3), nn.Dense(16, 4))


def _embed() -> nn.Module:
    class Bag(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(10, 6)
            self.head = nn.Dense(6, 4)

        def forward(self, ids: Any) -> Any:
            return self.head(self.emb(ids).mean(axis=1))
    return Bag()


MODELS = {"cnn": (_cnn, (8, 1, 10, 10)), "mlp": (_mlp, (8, 6, 6)), "lstm": (_RowLSTM, (8, 7, 6)),
          "gru": (_RowGRU, (8, 7, 6)),
          "embedding": (_embed, None)}
OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1),
    "sgd_nesterov_wd": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": lambda ps: optim.Adam(ps, lr=1e-2, weight_decay=1e-3),
    "adamw": lambda ps: optim.AdamW(ps, lr=1e-2),
}


def _batch(model: str, step: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(100 + step)
    shape = MODELS[model][1]
    x = rng.integers(0, 10, size=(8, 5)) if shape is None else rng.standard_normal(shape)
    return x, rng.integers(0, 4, size=8)


def _train(model_name: str, opt_name: str, dtype: str, device: str, steps: int = 4,
           loss_name: str = "ce") -> tuple[nn.Module, list[float]]:
    md.manual_seed(0)
    model = MODELS[model_name][0]().astype(dtype)  # built on the CPU: the same weights everywhere
    model.eval()  # dropout off: its masks come from a different generator on each device
    model.to(device)
    opt = OPTIMIZERS[opt_name](model.parameters())
    losses = []
    for step in range(steps):
        x, y = _batch(model_name, step)
        xb = md.tensor(x, dtype=None if x.dtype.kind == "i" else dtype, device=device)
        out = model(xb)
        if loss_name == "ce":
            loss = nn.CrossEntropyLoss()(out, md.tensor(y, device=device))
        else:
            loss = nn.MSELoss()(out, md.tensor(np.eye(4)[y], dtype=dtype, device=device))
        opt.zero_grad()
        loss.backward()
        md.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        losses.append(loss.item())
    return model, losses


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("model_name", sorted(MODELS))
def test_training_steps_on_gpu_equal_cpu(dev, model_name, opt_name, dtype):
    gpu_model, gpu_losses = _train(model_name, opt_name, dtype, dev)
    cpu_model, cpu_losses = _train(model_name, opt_name, dtype, "cpu")
    assert gpu_model.device == dev
    scale = 10.0  # a few steps compound rounding differences
    _close(gpu_losses, cpu_losses, dtype, scale)
    for (name, a), (_, b) in zip(gpu_model.state_dict().items(), cpu_model.state_dict().items()):
        _close(a, b, dtype, scale)


def test_mse_training_on_gpu_equals_cpu(dev):
    gpu_model, gpu_losses = _train("mlp", "adam", "float64", dev, loss_name="mse")
    cpu_model, cpu_losses = _train("mlp", "adam", "float64", "cpu", loss_name="mse")
    _close(gpu_losses, cpu_losses, "float64", 10.0)


def test_fit_evaluate_predict_on_a_gpu_model_from_host_data(dev):
    md.manual_seed(0)
    model = _mlp()
    model.to(dev)
    model.compile(optim.Adam(model.parameters(), lr=1e-2), "cross_entropy")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 6, 6)).astype("float32"), rng.integers(0, 4, size=64)
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()
    loss, acc = model.evaluate(x, y)
    assert np.isfinite(loss) and 0 <= acc <= 1
    pred = model.predict(x)
    assert isinstance(pred, np.ndarray) and pred.shape == (64, 4)


# ---- moving models, state dicts, seeds ----------------------------------------------------

def test_state_dict_is_numpy_and_loads_across_devices(dev):
    md.manual_seed(3)
    model = _cnn()
    model.to(dev)
    state = model.state_dict()
    assert all(type(v) is np.ndarray for v in state.values())
    md.manual_seed(4)
    cpu_model = _cnn()
    cpu_model.load_state_dict(state)  # a GPU-trained model loads on a CPU-only machine
    gpu_model = _cnn()
    gpu_model.to(dev)
    gpu_model.load_state_dict(cpu_model.state_dict())  # NumPy arrays into a GPU model
    assert all(p.device == dev for p in gpu_model.parameters())
    for (_, a), (_, b) in zip(gpu_model.state_dict().items(), state.items()):
        np.testing.assert_array_equal(a, b)
    opt = optim.Adam(gpu_model.parameters())
    x = md.randn(2, 1, 10, 10, device=dev)
    gpu_model(x).sum().backward()
    opt.step()
    opt_state = opt.state_dict()
    assert all(type(v) is np.ndarray for s in opt_state["state"].values() for v in s.values()
               if not isinstance(v, (int, float)))


def test_tensor_moves_keep_values_and_gradients_flow_back(dev):
    x = md.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    leaf = x.to(dev)  # a moved leaf is a new leaf on the GPU
    assert leaf.device == dev and leaf.is_leaf and leaf.requires_grad and x.device == "cpu"
    np.testing.assert_array_equal(leaf.numpy(), x.numpy())
    y = (x * 1).to(dev)  # a moved intermediate stays in the graph: the gradient moves back
    (y * y).sum().backward()
    assert x.grad.device == "cpu"
    np.testing.assert_array_equal(x.grad.numpy(), 2 * np.arange(6.0).reshape(2, 3))
    assert x.to("cpu") is x
    with pytest.raises(md.DeviceMismatchError):
        _ = x + md.ones(2, 3, device=dev)


def test_manual_seed_makes_gpu_runs_repeatable(dev):
    def run() -> list[np.ndarray]:
        md.manual_seed(123)
        model = _mlp()  # Dense init, then dropout masks from the CuPy generator
        model.to(dev)
        model.train()
        out = model(md.randn(4, 6, 6, device=dev))
        return [out.numpy(), md.randn(3, device=dev).numpy(),
                F.dropout(md.ones(20, device=dev), 0.5).numpy()]
    first, second = run(), run()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_set_backend_cupy_creates_tensors_on_the_gpu(dev):
    md.set_backend("cuda")
    assert md.get_backend() == "cupy"
    assert md.zeros(2).device == dev and md.tensor([1.0]).device == dev
    assert nn.Dense(3, 2).weight.device == dev


# ---- memory and synchronisation -----------------------------------------------------------

def _gpu_step_fn(dev: str, model_name: str = "cnn") -> Callable[[], md.Tensor]:
    """One training step (dropout on) on device-resident data: no transfers inside the step."""
    md.manual_seed(0)
    model = MODELS[model_name][0]()
    model.to(dev)
    model.train()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    x, y = _batch(model_name, 0)
    xb = md.tensor(x, dtype=None if x.dtype.kind == "i" else "float32", device=dev)
    yb = md.tensor(y, device=dev)

    def step() -> md.Tensor:
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    return step


def test_no_memory_growth_over_1000_steps(dev):
    cp = md.backend.get_cupy()
    pool = cp.get_default_memory_pool()
    step = _gpu_step_fn(dev)
    for _ in range(10):
        step()
    cp.cuda.get_current_stream().synchronize()
    baseline = pool.used_bytes()
    for _ in range(990):
        step()
    cp.cuda.get_current_stream().synchronize()
    # a leak of even one small array per step would add several hundred KiB
    assert pool.used_bytes() - baseline <= 64 * 1024, (baseline, pool.used_bytes())


_SPIN = r"""
extern "C" __global__ void spin(unsigned long long ns) {
    unsigned long long start, now;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
    do { asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now)); } while (now - start < ns);
}
"""


def _emulated(cp: Any) -> bool:
    return bool(getattr(cp, "__emulated__", False))


@pytest.mark.parametrize("model_name", sorted(MODELS))
def test_training_step_never_waits_for_the_gpu(dev, model_name):
    """Park the GPU on a 5-second spin kernel, then queue a whole training step behind it.
    If forward, backward or the optimizer step read anything back (.item(), float(), a
    NumPy conversion, a boolean mask...), the host waits for the spin: the event recorded
    right after the spin would then be complete when the step returns."""
    cp = md.backend.get_cupy()
    if _emulated(cp):
        pytest.skip("the CuPy emulator runs no PTX spin kernel; "
                    "test_training_step_reads_nothing_back counts its host reads instead")
    step = _gpu_step_fn(dev, model_name)
    for _ in range(3):  # compile every kernel, fill the memory pool
        step()
    cp.cuda.get_current_stream().synchronize()
    spin = cp.RawKernel(_SPIN, "spin")
    spin((1,), (1,), (np.uint64(5_000_000_000),))
    parked = cp.cuda.Event()
    parked.record()
    loss = step()
    assert not parked.done, "the training step synchronised with the GPU (a hidden host sync)"
    cp.cuda.get_current_stream().synchronize()
    assert np.isfinite(loss.item())


@pytest.mark.parametrize("model_name", sorted(MODELS))
def test_training_step_reads_nothing_back(dev, model_name):
    """The CuPy emulator counts every read back to the host (.get(), .item(), float(),
    bool(), a boolean mask, a synchronize): a whole training step must make none."""
    cp = md.backend.get_cupy()
    if not _emulated(cp):
        pytest.skip("counts host reads on the CuPy emulator (MINIDL_EMULATE_GPU=1); on a real "
                    "GPU test_training_step_never_waits_for_the_gpu checks the same")
    step = _gpu_step_fn(dev, model_name)
    step()
    cp.reset_host_syncs()
    for _ in range(2):
        step()
    assert cp.host_syncs == 0, f"{cp.host_syncs} host reads in two {model_name} training steps"


def test_fit_on_device_data_syncs_per_epoch_not_per_batch(dev):
    """fit on CuPy data: the epoch's order goes to the GPU once and the metrics come back at
    the epoch's end; nothing moves per batch (counted on the CuPy emulator)."""
    cp = md.backend.get_cupy()
    if not _emulated(cp):
        pytest.skip("counts host transfers on the CuPy emulator (MINIDL_EMULATE_GPU=1)")
    rng = np.random.default_rng(0)
    x = cp.asarray(rng.standard_normal((128, 6, 6)).astype("float32"))
    y = cp.asarray(rng.integers(0, 4, size=128))
    counts = []
    for batch_size in (8, 32):
        md.manual_seed(0)
        model = _mlp()
        model.to(dev)
        model.compile(optim.Adam(model.parameters(), lr=1e-2), "cross_entropy", metrics=["accuracy"])
        cp.reset_host_syncs()
        model.fit(x, y, epochs=2, batch_size=batch_size, verbose=0)
        counts.append(cp.reset_host_syncs())
    assert counts[0] == counts[1] <= 2 * 4, counts  # per epoch: 2 order copies, loss and accuracy
