"""Keras's optimizers with Keras 3's update rules and defaults, as minidl optimizers.

A Keras optimizer is made without variables (`Adam(learning_rate=1e-3)`) and built with
the model's weights when the model is first trained; after that it is a plain
`minidl.optim.Optimizer` (step, zero_grad, param_groups, state_dict). Where Keras's rule
is PyTorch's, the minidl optimizer runs it; where it differs, the Keras rule is written here:

- Adam/AdamW: Keras adds epsilon to sqrt(v) BEFORE the bias correction of v, i.e.
  PyTorch's rule with eps / sqrt(1 - beta_2**t); default epsilon 1e-7. weight_decay is
  decoupled (p *= 1 - lr * wd) for both; AdamW's default is 0.004.
- SGD with momentum: Keras's velocity holds the learning rate (m = momentum*m - lr*g;
  p += m), which differs from PyTorch's once the learning rate changes.
- RMSprop: epsilon INSIDE the square root (p -= lr * g / sqrt(v + eps)), rho 0.9, eps 1e-7;
  PyTorch's adds eps outside with alpha 0.99.
"""
from __future__ import annotations

import math
from typing import Any

from minidl import backend as B
from minidl import optim
from minidl.autograd.tensor import Tensor
from minidl.optim.optimizer import Optimizer as _Base
from minidl.optim.optimizer import check_nonneg
from minidl.training import lookup

_UNSUPPORTED = ("clipnorm", "clipvalue", "global_clipnorm", "loss_scale_factor",
                "gradient_accumulation_steps")


class KerasOptimizer:
    """Keras's optimizer protocol: hyperparameters at construction, weights at `build`;
    `learning_rate` reads and sets the rate (callbacks and schedules use it)."""

    slots_per_weight = 0  # state arrays per weight (the Optimizer params line of summary())

    def _keras_init(self, learning_rate: float, weight_decay: float | None, name: str,
                    kwargs: dict[str, Any]) -> None:
        for key in _UNSUPPORTED:
            if kwargs.pop(key, None) is not None:
                raise ValueError(f"{type(self).__name__}: {key} is not supported by minidl.keras "
                                 f"(clip with md.clip_grad_norm_ in a hand-written loop)")
        if kwargs.pop("use_ema", False):
            raise ValueError(f"{type(self).__name__}: use_ema is not supported by minidl.keras")
        kwargs.pop("ema_momentum", None)
        kwargs.pop("ema_overwrite_frequency", None)
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected argument(s) {', '.join(sorted(kwargs))}")
        check_nonneg(type(self).__name__, "learning_rate", learning_rate)
        self.name = name
        self._learning_rate = float(learning_rate)
        self.weight_decay = weight_decay
        self.built = False
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Tensor, dict[str, Any]] = {}

    def _defaults(self) -> dict[str, Any]:
        raise NotImplementedError

    def build(self, variables: Any) -> None:
        """Attach the weights to train (once; a built optimizer keeps its weights)."""
        if not self.built:
            _Base.__init__(self, list(variables), {"lr": self._learning_rate, **self._defaults()})  # type: ignore[arg-type]
            self.built = True

    @property
    def learning_rate(self) -> float:
        return self.param_groups[0]["lr"] if self.built else self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        check_nonneg(type(self).__name__, "learning_rate", value)
        self._learning_rate = float(value)
        for group in self.param_groups:
            group["lr"] = float(value)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "learning_rate": self.learning_rate,
                "weight_decay": self.weight_decay}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Any:
        return cls(**config)

    def _decay(self, p: Tensor, group: dict[str, Any]) -> None:
        """Keras's decoupled weight decay, before the update: p *= 1 - wd * lr."""
        wd = group.get("keras_weight_decay") or 0.0
        if wd:
            p.data *= 1.0 - wd * group["lr"]


class Adam(KerasOptimizer, optim.Adam):
    """Keras's Adam: m and v as PyTorch's; p -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m /
    (sqrt(v) + epsilon)."""

    _decoupled = True
    slots_per_weight = 2

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, weight_decay: float | None = None,
                 name: str = "adam", **kwargs: Any) -> None:
        if amsgrad:
            raise ValueError(f"{type(self).__name__}: amsgrad=True is not supported by minidl.keras")
        self._keras_init(learning_rate, weight_decay, name, kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def _defaults(self) -> dict[str, Any]:
        return {"betas": (self.beta_1, self.beta_2), "eps": self.epsilon,
                "weight_decay": self.weight_decay or 0.0}

    def _eps(self, group: dict[str, Any], step: int) -> float:
        return group["eps"] / math.sqrt(1.0 - group["betas"][1] ** step)  # Keras's eps, PyTorch's rule

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


class AdamW(Adam):
    """Keras's AdamW: Adam with decoupled weight decay, default 0.004."""

    def __init__(self, learning_rate: float = 0.001, weight_decay: float = 0.004, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False,
                 name: str = "adamw", **kwargs: Any) -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, name, **kwargs)


class SGD(KerasOptimizer, _Base):
    """Keras's SGD: p -= lr * g; with momentum m = momentum*m - lr*g, p += m (nesterov:
    p += momentum*m - lr*g)."""

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float | None = None, name: str = "SGD", **kwargs: Any) -> None:
        self._keras_init(learning_rate, weight_decay, name, kwargs)
        check_nonneg("SGD", "momentum", momentum)
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        self._state_keys = ("momentum",) if self.momentum else ()
        self.slots_per_weight = 1 if self.momentum else 0

    def _defaults(self) -> dict[str, Any]:
        return {"momentum": self.momentum, "nesterov": self.nesterov,
                "keras_weight_decay": self.weight_decay or 0.0}

    def _update(self, p: Tensor, grad: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        self._decay(p, group)
        lr, momentum = group["lr"], group["momentum"]
        if not momentum:
            p.data -= lr * grad
            return
        if "momentum" not in state:
            state["momentum"] = B.array_module(p.data).zeros_like(p.data)
        m = state["momentum"]
        m *= momentum
        m -= lr * grad
        p.data += momentum * m - lr * grad if group["nesterov"] else m

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(KerasOptimizer, _Base):
    """Keras's RMSprop: v = rho*v + (1-rho)*g^2; p -= lr * g / sqrt(v + epsilon) (centered:
    sqrt(v - a^2 + epsilon), a the mean gradient); with momentum the step goes through
    m = momentum*m + increment."""

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, weight_decay: float | None = None,
                 name: str = "rmsprop", **kwargs: Any) -> None:
        self._keras_init(learning_rate, weight_decay, name, kwargs)
        for what, value in (("rho", rho), ("momentum", momentum), ("epsilon", epsilon)):
            check_nonneg("RMSprop", what, value)
        self.rho, self.momentum, self.epsilon = float(rho), float(momentum), float(epsilon)
        self.centered = bool(centered)
        self._state_keys = ("velocity",) + (("momentum",) if self.momentum else ()) + (
            ("average_gradient",) if self.centered else ())
        self.slots_per_weight = len(self._state_keys)

    def _defaults(self) -> dict[str, Any]:
        return {"rho": self.rho, "momentum": self.momentum, "eps": self.epsilon,
                "centered": self.centered, "keras_weight_decay": self.weight_decay or 0.0}

    def _update(self, p: Tensor, grad: Any, group: dict[str, Any], state: dict[str, Any]) -> None:
        self._decay(p, group)
        if not state:
            xp = B.array_module(p.data)
            state.update({key: xp.zeros_like(p.data) for key in self._state_keys})
        rho, xp = group["rho"], B.array_module(p.data)
        v = state["velocity"]
        v *= rho
        v += (1.0 - rho) * grad * grad
        if group["centered"]:
            a = state["average_gradient"]
            a *= rho
            a += (1.0 - rho) * grad
            increment = group["lr"] * grad / xp.sqrt(v - a * a + group["eps"])
        else:
            increment = group["lr"] * grad / xp.sqrt(v + group["eps"])
        if group["momentum"]:
            m = state["momentum"]
            m *= group["momentum"]
            m += increment
            p.data -= m
        else:
            p.data -= increment

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


_OPTIMIZERS: dict[str, type[KerasOptimizer]] = {"adam": Adam, "adamw": AdamW, "sgd": SGD,
                                                "rmsprop": RMSprop}


def get(identifier: Any) -> Any:
    """A Keras optimizer from a name ("adam", "sgd", "rmsprop", "adamw", with Keras's
    defaults) or an optimizer object (a minidl.optim one too, already given its weights)."""
    if isinstance(identifier, str):
        return lookup(_OPTIMIZERS, identifier, "optimizer", "optimizers", " (or pass an optimizer object)")()
    if hasattr(identifier, "step") and hasattr(identifier, "zero_grad"):
        return identifier
    raise TypeError(f"optimizer must be a name or an optimizer object, got {type(identifier).__name__}")


def serialize(optimizer: Any) -> dict[str, Any] | None:
    """{"class_name", "config"} of a Keras optimizer; None for other optimizers."""
    if not isinstance(optimizer, KerasOptimizer):
        return None
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config: dict[str, Any]) -> KerasOptimizer:
    classes = {cls.__name__: cls for cls in _OPTIMIZERS.values()}
    cls = classes.get(config.get("class_name", ""))
    if cls is None:
        raise ValueError(f"unknown optimizer class {config.get('class_name')!r}; known: "
                         f"{', '.join(sorted(classes))}")
    return cls.from_config(dict(config["config"]))


Optimizer = KerasOptimizer
