"""Optimizer state both backends share: its formats, a fresh state and the checks on a loaded one.

Both backends implement Adam exactly as ONNX Runtime's ``AdamWOptimizer`` (``adam_mode=1``,
no weight decay): ``lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t)``, ``p -= lr_t * m / (sqrt(v) + eps)``.
Their optimizer state therefore shares one layout (:data:`ADAM_FORMAT`): ``m/<param>``,
``v/<param>`` and ``step`` (int64, steps taken), so a checkpoint moves between backends.
"""

from __future__ import annotations

import numpy as np

from satchel.errors import BackendError, ShapeError
from satchel.model.backend import Weights
from satchel.model.spec import ModelSpec
from satchel_plugins.backends._input_checks import NUMERIC_KINDS, Arrays

ADAM_FORMAT = "satchel-adam/1"
SGD_FORMAT = "satchel-sgd/1"


def optimizer_format(spec: ModelSpec) -> str:
    """The layout of ``spec``'s optimizer state: :data:`ADAM_FORMAT` or :data:`SGD_FORMAT`."""
    return ADAM_FORMAT if spec.optimizer.kind == "adam" else SGD_FORMAT


def zero_optimizer_state(spec: ModelSpec) -> Arrays:
    """A fresh optimizer: zero Adam moments and step 0 (SGD has no state)."""
    if spec.optimizer.kind != "adam":
        return {}
    state: Arrays = {}
    for name, shape in spec.param_shapes.items():
        state[f"m/{name}"] = np.zeros(shape, np.float32)
        state[f"v/{name}"] = np.zeros(shape, np.float32)
    state["step"] = np.zeros((), np.int64)
    return state


def check_optimizer_state(spec: ModelSpec, weights: Weights, where: str) -> Arrays:
    """The optimizer state to load: ``weights.optimizer`` checked, or a fresh one when it is empty."""
    fresh = zero_optimizer_state(spec)
    if not weights.optimizer:
        return fresh
    fmt = optimizer_format(spec)
    if weights.optimizer_format != fmt:
        raise BackendError(
            f"{where}: optimizer state is {weights.optimizer_format!r}, this trainer uses {fmt!r}",
            hint="pass Weights(params) without optimizer state to start a fresh optimizer",
        )
    if set(weights.optimizer) != set(fresh):
        raise ShapeError(
            f"{where}: optimizer state names differ from {fmt} "
            f"(missing {sorted(set(fresh) - set(weights.optimizer))}, "
            f"unexpected {sorted(set(weights.optimizer) - set(fresh))})",
            hint="pass the state returned by get_weights()",
        )
    out: Arrays = {}
    for name, zero in fresh.items():
        a = np.asarray(weights.optimizer[name])
        if a.shape != zero.shape or a.dtype.kind not in NUMERIC_KINDS or not np.isfinite(a).all():
            raise ShapeError(
                f"{where}: optimizer state {name} must be finite with shape {zero.shape}, "
                f"got {a.dtype} {a.shape}",
                hint="pass the state returned by get_weights()",
            )
        out[name] = np.array(a, zero.dtype, order="C")
    if out.get("step", 0) < 0:
        raise ShapeError(
            f"{where}: optimizer step must be >= 0", hint="pass the state returned by get_weights()"
        )
    return out
