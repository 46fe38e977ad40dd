"""NumPy float64 reference of a :class:`~satchel.model.spec.ModelSpec`: forward pass, objective, gradient.

Every training backend minimises the same objective over a batch ``(x, y, w)``::

    J(p) = sum(w * l) / max(sum(w), 1e-12) + l2_to_reference * sum((p - reference) ** 2)

where ``l`` is the per-sample loss of :meth:`Loss.per_sample` on the raw network outputs. Tests
(and third-party backend authors) compare a backend's gradients and predictions with this module::

    from satchel.model import reference
    g = reference.gradient(spec, params, x, y, w)                     # analytic backprop
    assert np.allclose(g["dense_0_kernel"], reference.finite_difference_gradient(
        spec, params, x, y, w)["dense_0_kernel"])

``reference`` defaults to :func:`initial_params` of the spec, as a trainer opened without weights.
ReLU (and ``maximum``/``minimum`` ties) follow TensorFlow's convention where it matters: the
derivative of ``max(a, b)`` flows to ``a`` when ``a >= b``; ReLU's derivative at exactly 0 is 0.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from satchel.model.spec import Binary, Const, Expr, Label, ModelSpec, Out, Unary, initial_params

#: Floor of the weight sum in the weighted mean (all-zero weights give a zero data loss).
WEIGHT_SUM_EPS = 1e-12

Params = Mapping[str, np.ndarray]


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * v))


def _activations(spec: ModelSpec, params: Params, x: np.ndarray) -> list[np.ndarray]:
    """Layer inputs ``[x, h1, ..., h_{L-1}]`` followed by the raw output, all float64."""
    h = np.asarray(x, np.float64)
    out = [h]
    for i, layer in enumerate(spec.layers):
        kernel = np.asarray(params[f"dense_{i}_kernel"], np.float64)
        z = h @ kernel + np.asarray(params[f"dense_{i}_bias"], np.float64)
        if layer.activation == "relu":
            h = np.maximum(z, 0.0)
        elif layer.activation == "tanh":
            h = np.tanh(z)
        elif layer.activation == "sigmoid":
            h = _sigmoid(z)
        else:
            h = z
        out.append(h)
    return out


def forward(spec: ModelSpec, params: Params, x: np.ndarray) -> np.ndarray:
    """Raw network outputs (before the link), shape (n, output_dim), float64."""
    return _activations(spec, params, x)[-1]


def predict(spec: ModelSpec, params: Params, x: np.ndarray) -> np.ndarray:
    """Outputs with the loss's link applied (sigmoid, softmax or identity), float64."""
    z = forward(spec, params, x)
    if spec.loss.link == "sigmoid":
        return _sigmoid(z)
    if spec.loss.link == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return z


def _defaults(
    spec: ModelSpec, n: int, weights: np.ndarray | None, reference: Params | None
) -> tuple[np.ndarray, Params]:
    w = np.ones(n) if weights is None else np.asarray(weights, np.float64)
    return w, initial_params(spec) if reference is None else reference


def loss(
    spec: ModelSpec,
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray | None = None,
    reference: Params | None = None,
) -> float:
    """The training objective ``J`` (weighted mean loss plus the L2 pull toward ``reference``)."""
    w, ref = _defaults(spec, len(x), weights, reference)
    per = spec.loss.per_sample(forward(spec, params, x), y)
    value = float((w * per).sum() / max(w.sum(), WEIGHT_SUM_EPS))
    if spec.l2_to_reference:
        value += spec.l2_to_reference * sum(
            float(np.square(np.asarray(params[k], np.float64) - np.asarray(ref[k], np.float64)).sum())
            for k in spec.param_shapes
        )
    return value


def _expr_grad(e: Expr, z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Value (n,) and derivative w.r.t. the raw outputs (n, k) of a loss expression."""
    n, k = z.shape
    if isinstance(e, Out):
        d = np.zeros((n, k))
        d[:, e.index] = 1.0
        return z[:, e.index], d
    if isinstance(e, Label):
        return y[:, e.index], np.zeros((n, k))
    if isinstance(e, Const):
        return np.full(n, e.value), np.zeros((n, k))
    if isinstance(e, Unary):
        v, dv = _expr_grad(e.arg, z, y)
        if e.op == "neg":
            return -v, -dv
        if e.op == "exp":
            ev = np.exp(v)
            return ev, ev[:, None] * dv
        if e.op == "log":
            return np.log(v), dv / v[:, None]
        if e.op == "softplus":
            return np.maximum(v, 0.0) + np.log1p(np.exp(-np.abs(v))), _sigmoid(v)[:, None] * dv
        if e.op == "sigmoid":
            s = _sigmoid(v)
            return s, (s * (1.0 - s))[:, None] * dv
        if e.op == "square":
            return v * v, (2.0 * v)[:, None] * dv
        if e.op == "abs":
            return np.abs(v), np.sign(v)[:, None] * dv
        if e.op == "relu":
            return np.maximum(v, 0.0), (v > 0.0)[:, None] * dv
    if isinstance(e, Binary):
        a, da = _expr_grad(e.left, z, y)
        b, db = _expr_grad(e.right, z, y)
        if e.op == "add":
            return a + b, da + db
        if e.op == "sub":
            return a - b, da - db
        if e.op == "mul":
            return a * b, b[:, None] * da + a[:, None] * db
        if e.op == "div":
            return a / b, (da * b[:, None] - a[:, None] * db) / (b * b)[:, None]
        if e.op == "maximum":
            return np.maximum(a, b), np.where((a >= b)[:, None], da, db)
        if e.op == "minimum":
            return np.minimum(a, b), np.where((a <= b)[:, None], da, db)
    raise TypeError(f"not a loss expression node: {e!r}")


def _loss_grad(spec: ModelSpec, z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Derivative of the per-sample loss w.r.t. the raw outputs, shape (n, output_dim)."""
    y = np.asarray(y, np.float64)
    kind = spec.loss.kind
    if kind == "bce_logits":
        return (_sigmoid(z) - y) / z.shape[1]
    if kind == "mse":
        return 2.0 * (z - y) / z.shape[1]
    if kind == "softmax_ce":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True) - y
    assert spec.loss.expr is not None
    return _expr_grad(spec.loss.expr, z, y)[1]


def gradient(
    spec: ModelSpec,
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray | None = None,
    reference: Params | None = None,
) -> dict[str, np.ndarray]:
    """Analytic gradient of :func:`loss` w.r.t. every parameter, float64, keyed like ``params``."""
    w, ref = _defaults(spec, len(x), weights, reference)
    acts = _activations(spec, params, x)
    dz = (w / max(w.sum(), WEIGHT_SUM_EPS))[:, None] * _loss_grad(spec, acts[-1], y)
    grads: dict[str, np.ndarray] = {}
    for i in range(len(spec.layers) - 1, -1, -1):
        kernel = np.asarray(params[f"dense_{i}_kernel"], np.float64)
        grads[f"dense_{i}_kernel"] = acts[i].T @ dz
        grads[f"dense_{i}_bias"] = dz.sum(axis=0)
        if i == 0:
            break
        h, act = acts[i], spec.layers[i - 1].activation
        dh = dz @ kernel.T
        if act == "relu":
            dz = dh * (h > 0.0)
        elif act == "tanh":
            dz = dh * (1.0 - h * h)
        elif act == "sigmoid":
            dz = dh * h * (1.0 - h)
        else:
            dz = dh
    if spec.l2_to_reference:
        for k in grads:
            grads[k] = grads[k] + 2.0 * spec.l2_to_reference * (
                np.asarray(params[k], np.float64) - np.asarray(ref[k], np.float64)
            )
    return {k: grads[k] for k in spec.param_shapes}


def finite_difference_gradient(
    spec: ModelSpec,
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray | None = None,
    reference: Params | None = None,
    step: float = 1e-6,
) -> dict[str, np.ndarray]:
    """Central finite differences of :func:`loss` (slow; for checking :func:`gradient`)."""
    p64 = {k: np.array(v, np.float64) for k, v in params.items()}
    grads: dict[str, np.ndarray] = {}
    for name in spec.param_shapes:
        g = np.zeros_like(p64[name])
        flat, gflat = p64[name].reshape(-1), g.reshape(-1)
        for j in range(flat.size):
            keep = flat[j]
            flat[j] = keep + step
            up = loss(spec, p64, x, y, weights, reference)
            flat[j] = keep - step
            down = loss(spec, p64, x, y, weights, reference)
            flat[j] = keep
            gflat[j] = (up - down) / (2.0 * step)
        grads[name] = g
    return grads
