"""A frozen, hashable description of a small network that every training backend can build.

A :class:`ModelSpec` says everything a backend needs: input width, dense layers, the loss, the
optimizer, the training batch size, an optional L2 pull toward reference weights, and the seed
for deterministic initialisation. Two backends given the same spec start from the same weights
(:func:`initial_params`) and minimise the same objective.

Custom losses are written once, as a small expression over the network's output columns and the
label columns (:class:`Expr`); each backend translates the expression into its own ops, and
:func:`Expr.evaluate` gives the NumPy reference::

    out, label = Out(0), Label(0)
    loss = Loss.custom("squared", (out - label).square(), label_dim=1)
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from satchel.errors import ConfigError

Activation = Literal["linear", "relu", "tanh", "sigmoid"]
Link = Literal["identity", "sigmoid", "softmax"]
LossKind = Literal["bce_logits", "mse", "softmax_ce", "custom"]
UnaryOp = Literal["neg", "exp", "log", "softplus", "sigmoid", "square", "abs", "relu"]
BinaryOp = Literal["add", "sub", "mul", "div", "maximum", "minimum"]

UNARY_OPS: tuple[str, ...] = ("neg", "exp", "log", "softplus", "sigmoid", "square", "abs", "relu")
BINARY_OPS: tuple[str, ...] = ("add", "sub", "mul", "div", "maximum", "minimum")


# --------------------------------------------------------------------------- loss expressions


class Expr:
    """A node of a per-sample loss expression. Combine with ``+ - * /`` and the methods below."""

    def _wrap(self, other: Expr | float) -> Expr:
        return other if isinstance(other, Expr) else Const(float(other))

    def __add__(self, o: Expr | float) -> Expr:
        return Binary("add", self, self._wrap(o))

    def __radd__(self, o: float) -> Expr:
        return Binary("add", self._wrap(o), self)

    def __sub__(self, o: Expr | float) -> Expr:
        return Binary("sub", self, self._wrap(o))

    def __rsub__(self, o: float) -> Expr:
        return Binary("sub", self._wrap(o), self)

    def __mul__(self, o: Expr | float) -> Expr:
        return Binary("mul", self, self._wrap(o))

    def __rmul__(self, o: float) -> Expr:
        return Binary("mul", self._wrap(o), self)

    def __truediv__(self, o: Expr | float) -> Expr:
        return Binary("div", self, self._wrap(o))

    def __rtruediv__(self, o: float) -> Expr:
        return Binary("div", self._wrap(o), self)

    def __neg__(self) -> Expr:
        return Unary("neg", self)

    def exp(self) -> Expr:
        return Unary("exp", self)

    def log(self) -> Expr:
        return Unary("log", self)

    def softplus(self) -> Expr:
        """``log(1 + exp(x))``, computed stably by every backend."""
        return Unary("softplus", self)

    def sigmoid(self) -> Expr:
        return Unary("sigmoid", self)

    def square(self) -> Expr:
        return Unary("square", self)

    def abs(self) -> Expr:
        return Unary("abs", self)

    def relu(self) -> Expr:
        return Unary("relu", self)

    def maximum(self, o: Expr | float) -> Expr:
        return Binary("maximum", self, self._wrap(o))

    def minimum(self, o: Expr | float) -> Expr:
        return Binary("minimum", self, self._wrap(o))

    def clip(self, lo: float, hi: float) -> Expr:
        return self.maximum(lo).minimum(hi)

    def evaluate(self, outputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """NumPy reference: per-sample values for ``outputs`` (n, k) and ``labels`` (n, m)."""
        return _evaluate(self, np.asarray(outputs, np.float64), np.asarray(labels, np.float64))

    def max_out(self) -> int:
        """Highest output column referenced (-1 if none)."""
        return max((n.index for n in _walk(self) if isinstance(n, Out)), default=-1)

    def max_label(self) -> int:
        """Highest label column referenced (-1 if none)."""
        return max((n.index for n in _walk(self) if isinstance(n, Label)), default=-1)


@dataclass(frozen=True, eq=True)
class Out(Expr):
    """Column ``index`` of the network's raw output (before the link)."""

    index: int


@dataclass(frozen=True, eq=True)
class Label(Expr):
    """Column ``index`` of the label matrix."""

    index: int


@dataclass(frozen=True, eq=True)
class Const(Expr):
    value: float


@dataclass(frozen=True, eq=True)
class Unary(Expr):
    op: UnaryOp
    arg: Expr


@dataclass(frozen=True, eq=True)
class Binary(Expr):
    op: BinaryOp
    left: Expr
    right: Expr


def _walk(e: Expr):
    yield e
    if isinstance(e, Unary):
        yield from _walk(e.arg)
    elif isinstance(e, Binary):
        yield from _walk(e.left)
        yield from _walk(e.right)


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


_NP_UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "neg": np.negative,
    "exp": np.exp,
    "log": np.log,
    "softplus": _softplus,
    "sigmoid": lambda x: 0.5 * (1.0 + np.tanh(0.5 * x)),
    "square": np.square,
    "abs": np.abs,
    "relu": lambda x: np.maximum(x, 0.0),
}
_NP_BINARY = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "maximum": np.maximum,
    "minimum": np.minimum,
}


def _evaluate(e: Expr, out: np.ndarray, lab: np.ndarray) -> np.ndarray:
    if isinstance(e, Out):
        return out[:, e.index]
    if isinstance(e, Label):
        return lab[:, e.index]
    if isinstance(e, Const):
        return np.full(out.shape[0], e.value)
    if isinstance(e, Unary):
        return _NP_UNARY[e.op](_evaluate(e.arg, out, lab))
    if isinstance(e, Binary):
        return _NP_BINARY[e.op](_evaluate(e.left, out, lab), _evaluate(e.right, out, lab))
    raise TypeError(f"not a loss expression node: {e!r}")


def expr_to_json(e: Expr) -> object:
    """A canonical JSON form (used in the spec hash and export manifests)."""
    if isinstance(e, Out):
        return ["out", e.index]
    if isinstance(e, Label):
        return ["label", e.index]
    if isinstance(e, Const):
        return ["const", e.value]
    if isinstance(e, Unary):
        return [e.op, expr_to_json(e.arg)]
    if isinstance(e, Binary):
        return [e.op, expr_to_json(e.left), expr_to_json(e.right)]
    raise TypeError(f"not a loss expression node: {e!r}")


def expr_from_json(j: object) -> Expr:
    """Inverse of :func:`expr_to_json`."""
    if not isinstance(j, list) or not j:
        raise ValueError(f"malformed loss expression: {j!r}")
    op, *args = j
    if op == "out":
        return Out(int(args[0]))
    if op == "label":
        return Label(int(args[0]))
    if op == "const":
        return Const(float(args[0]))
    if op in UNARY_OPS:
        return Unary(op, expr_from_json(args[0]))
    if op in BINARY_OPS:
        return Binary(op, expr_from_json(args[0]), expr_from_json(args[1]))
    raise ValueError(f"unknown loss expression op {op!r}")


# --------------------------------------------------------------------------- spec records


@dataclass(frozen=True)
class Dense:
    """A fully connected layer."""

    units: int
    activation: Activation = "relu"


@dataclass(frozen=True)
class Loss:
    """The training objective: a per-sample loss, averaged with sample weights.

    Built-ins: ``bce_logits`` (numerically stable binary cross-entropy on logits, one column per
    binary target), ``mse`` (mean over columns), ``softmax_ce`` (one-hot labels, K classes).
    ``custom`` uses ``expr``, a per-sample :class:`Expr` over ``Out(i)`` and ``Label(j)``.
    ``link`` maps raw outputs to predictions (sigmoid probabilities, softmax, or identity).
    """

    kind: LossKind
    link: Link
    name: str
    expr: Expr | None = None
    label_dim: int | None = None

    @staticmethod
    def bce_logits() -> Loss:
        return Loss("bce_logits", "sigmoid", "bce_logits")

    @staticmethod
    def mse() -> Loss:
        return Loss("mse", "identity", "mse")

    @staticmethod
    def softmax_ce() -> Loss:
        return Loss("softmax_ce", "softmax", "softmax_ce")

    @staticmethod
    def custom(name: str, expr: Expr, *, label_dim: int, link: Link = "identity") -> Loss:
        return Loss("custom", link, name, expr, label_dim)

    def per_sample(self, outputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """NumPy reference of the per-sample loss (float64)."""
        o = np.asarray(outputs, np.float64)
        y = np.asarray(labels, np.float64)
        if self.kind == "bce_logits":
            return (_softplus(o) - o * y).mean(axis=1)
        if self.kind == "mse":
            return np.square(o - y).mean(axis=1)
        if self.kind == "softmax_ce":
            m = o.max(axis=1, keepdims=True)
            lse = (m + np.log(np.exp(o - m).sum(axis=1, keepdims=True)))[:, 0]
            return lse - (o * y).sum(axis=1)
        assert self.expr is not None
        return self.expr.evaluate(o, y)

    def to_json(self) -> dict[str, object]:
        d: dict[str, object] = {"kind": self.kind, "link": self.link, "name": self.name}
        if self.expr is not None:
            d["expr"] = expr_to_json(self.expr)
            d["label_dim"] = self.label_dim
        return d


@dataclass(frozen=True)
class Optimizer:
    """Adam or plain SGD."""

    kind: Literal["adam", "sgd"] = "adam"
    learning_rate: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-7


@dataclass(frozen=True)
class ModelSpec:
    """A small dense network and how to train it. Hashable; :attr:`hash` names its artifacts."""

    input_dim: int
    layers: tuple[Dense, ...]
    loss: Loss = field(default_factory=Loss.bce_logits)
    optimizer: Optimizer = field(default_factory=Optimizer)
    batch_size: int = 32
    l2_to_reference: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        problems = list(self._problems())
        if problems:
            raise ConfigError([("model_spec." + p, m) for p, m in problems])

    def _problems(self):
        if self.input_dim < 1:
            yield "input_dim", f"must be >= 1, got {self.input_dim}"
        if not self.layers:
            yield "layers", "needs at least the output layer"
        for i, layer in enumerate(self.layers):
            if layer.units < 1:
                yield f"layers[{i}].units", f"must be >= 1, got {layer.units}"
        if self.layers and self.layers[-1].activation != "linear":
            yield "layers[-1].activation", "the output layer must be 'linear' (the loss's link maps it)"
        if self.batch_size < 1:
            yield "batch_size", f"must be >= 1, got {self.batch_size}"
        if not (self.optimizer.learning_rate > 0 and math.isfinite(self.optimizer.learning_rate)):
            yield "optimizer.learning_rate", "must be a positive finite number"
        if self.l2_to_reference < 0:
            yield "l2_to_reference", "must be >= 0"
        if self.layers and self.loss.kind == "custom":
            e = self.loss.expr
            if e is None or self.loss.label_dim is None:
                yield "loss", "a custom loss needs an expression and a label_dim"
            elif e.max_out() >= self.output_dim:
                yield "loss.expr", f"uses Out({e.max_out()}) but the network has {self.output_dim} outputs"
            elif e.max_label() >= self.loss.label_dim:
                yield "loss.expr", f"uses Label({e.max_label()}) but label_dim is {self.loss.label_dim}"
        if self.loss.kind == "softmax_ce" and self.layers and self.output_dim < 2:
            yield "loss", "softmax_ce needs at least 2 output units"

    @property
    def output_dim(self) -> int:
        return self.layers[-1].units

    @property
    def label_dim(self) -> int:
        """Width of the label matrix ``y`` the loss expects."""
        if self.loss.kind == "custom":
            assert self.loss.label_dim is not None
            return self.loss.label_dim
        return self.output_dim

    @property
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Parameter names and shapes, in layer order: ``dense_{i}_kernel`` (in, out), ``dense_{i}_bias``."""
        shapes: dict[str, tuple[int, ...]] = {}
        width = self.input_dim
        for i, layer in enumerate(self.layers):
            shapes[f"dense_{i}_kernel"] = (width, layer.units)
            shapes[f"dense_{i}_bias"] = (layer.units,)
            width = layer.units
        return shapes

    @property
    def n_params(self) -> int:
        return sum(int(np.prod(s)) for s in self.param_shapes.values())

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["loss"] = self.loss.to_json()
        d["layers"] = [asdict(layer) for layer in self.layers]
        return d

    @property
    def hash(self) -> str:
        """SHA-256 of the canonical JSON form; equal specs share compiled artifacts."""
        blob = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> ModelSpec:
        loss_d = dict(d["loss"])
        expr = expr_from_json(loss_d["expr"]) if loss_d.get("expr") is not None else None
        return ModelSpec(
            input_dim=int(d["input_dim"]),
            layers=tuple(Dense(**layer) for layer in d["layers"]),
            loss=Loss(loss_d["kind"], loss_d["link"], loss_d["name"], expr, loss_d.get("label_dim")),
            optimizer=Optimizer(**d["optimizer"]),
            batch_size=int(d["batch_size"]),
            l2_to_reference=float(d["l2_to_reference"]),
            seed=int(d["seed"]),
        )


def mlp(input_dim: int, hidden: tuple[int, ...], outputs: int = 1, **kwargs: object) -> ModelSpec:
    """Shorthand: ``mlp(10, (16, 8))`` is the 10-16-8-1 network with ReLU hidden layers."""
    layers = tuple(Dense(u, "relu") for u in hidden) + (Dense(outputs, "linear"),)
    return ModelSpec(input_dim=input_dim, layers=layers, **kwargs)  # type: ignore[arg-type]


def initial_params(spec: ModelSpec) -> dict[str, np.ndarray]:
    """Deterministic Glorot-uniform kernels and zero biases (float32) from ``spec.seed``."""
    rng = np.random.default_rng(spec.seed)
    params: dict[str, np.ndarray] = {}
    for name, shape in spec.param_shapes.items():
        if name.endswith("_kernel"):
            limit = math.sqrt(6.0 / (shape[0] + shape[1]))
            params[name] = rng.uniform(-limit, limit, size=shape).astype(np.float32)
        else:
            params[name] = np.zeros(shape, np.float32)
    return params
