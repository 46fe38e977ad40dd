"""Author a ModelSpec as a ``tf.Module`` and convert it to a TFLite model with builtin ops only.

TensorFlow is imported only inside :func:`build` (a compile-cache miss). Ops are chosen so
that their gradients convert to TFLITE_BUILTINS (no Flex):

- ReLU is ``tf.maximum(x, 0.)`` (``tf.nn.relu``'s gradient ``ReluGrad`` is Flex);
- output/label columns are picked with a one-hot product and a sum, not ``z[:, i]``
  (``StridedSliceGrad`` is Flex);
- softplus is ``max(x, 0) + log(1 + exp(-|x|))``: stable, and every gradient is builtin;
- softmax cross-entropy subtracts a ``stop_gradient`` row max before ``log(sum(exp))``.

The training batch size is fixed (a dynamic batch needs ``BroadcastGradientArgs``); ``infer``
and ``evaluate`` take any number of rows.

Every variable is created with distinct placeholder values so that the converter cannot merge
their initialisers into one shared constant: export patches those constants with the trained
values (:func:`satchel_plugins.backends._tflite.bake_variables`). ``open`` always loads real
weights, so the placeholders never reach a user.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np

from satchel.errors import BackendError
from satchel.model.reference import WEIGHT_SUM_EPS
from satchel.model.spec import Binary, Const, Expr, Label, ModelSpec, Out, Unary
from satchel_plugins._native_logs import quiet_native_logs
from satchel_plugins.backends._tflite import (
    ADAM_STEP,
    adam_m,
    adam_v,
    check_builtin_only,
    param_var,
    ref_var,
)

MODEL_FILE = "model.tflite"
#: precision -> file of the inference-only models written at export (``infer`` signature only)
INFERENCE_FILES = {
    "float32": "infer_float32.tflite",
    "float16": "infer_float16.tflite",
    "int8": "infer_int8.tflite",
}


def build(spec: ModelSpec, directory: Path) -> dict[str, str]:
    """Write ``model.tflite`` for ``spec`` into ``directory``; return the files by role."""
    with quiet_native_logs():
        try:
            import tensorflow as tf
        except ImportError as exc:
            raise BackendError(
                "litert: compiling a spec needs TensorFlow, which is not installed",
                hint="pip install tensorflow-cpu, or compile where it is installed and "
                "ship the compile cache directory",
            ) from exc

        module = _module(tf, spec)
        functions = [getattr(module, name).get_concrete_function() for name in module.signature_names]
        converter = tf.lite.TFLiteConverter.from_concrete_functions(functions, module)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        converter.experimental_enable_resource_variables = True
        model = converter.convert()
    check_builtin_only(model, f"spec {spec.hash[:12]}")
    (directory / MODEL_FILE).write_bytes(model)
    return {"model": MODEL_FILE}


def inference_models(spec: ModelSpec, params: dict[str, np.ndarray]) -> dict[str, bytes]:
    """Inference-only ``.tflite`` models (signature ``infer``) with ``params`` as constants, by
    precision: ``float32``, ``float16`` (float16 weights, dequantized at load) and ``int8``
    (weight-only int8 kernels, see :func:`~satchel_plugins.backends._tflite.quantize_weights_int8`)."""
    try:
        with quiet_native_logs():
            import tensorflow as tf
    except ImportError as exc:
        raise BackendError(
            "litert: writing the quantized inference models needs TensorFlow",
            hint="pip install tensorflow-cpu where you export",
        ) from exc
    from satchel_plugins.backends._tflite import quantize_weights_int8, rename_signature

    d = spec.input_dim

    class Inference(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, d], tf.float32, name="x")])
        def infer(self, x: Any) -> dict[str, Any]:
            h = x
            for i, layer in enumerate(spec.layers):
                h = tf.matmul(h, tf.constant(params[f"dense_{i}_kernel"])) + tf.constant(
                    params[f"dense_{i}_bias"]
                )
                if layer.activation == "relu":
                    h = tf.maximum(h, 0.0)
                elif layer.activation == "tanh":
                    h = tf.tanh(h)
                elif layer.activation == "sigmoid":
                    h = tf.sigmoid(h)
            if spec.loss.link == "sigmoid":
                h = tf.sigmoid(h)
            elif spec.loss.link == "softmax":
                h = tf.nn.softmax(h, axis=1)
            return {"output": h}

    module = Inference()

    def convert(float16: bool) -> bytes:
        converter = tf.lite.TFLiteConverter.from_concrete_functions(
            [module.infer.get_concrete_function()], module
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if float16:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        with quiet_native_logs():
            model = converter.convert()
        check_builtin_only(model, f"spec {spec.hash[:12]} (inference)")
        return rename_signature(model, "infer")

    float32 = convert(False)
    return {"float32": float32, "float16": convert(True), "int8": quantize_weights_int8(float32)}


def _placeholder(index: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(1_000_003 + index).uniform(-1.0, 1.0, size=shape).astype(np.float32)


def _module(tf: Any, spec: ModelSpec) -> Any:
    shapes = spec.param_shapes
    names = list(shapes)
    B, D, K = spec.batch_size, spec.input_dim, spec.label_dim
    opt = spec.optimizer
    adam = opt.kind == "adam"
    l2 = float(spec.l2_to_reference)
    f32 = tf.float32
    counter = itertools.count()

    def variable(name: str, shape: tuple[int, ...], trainable: bool = True) -> Any:
        return tf.Variable(_placeholder(next(counter), shape), name=name, trainable=trainable)

    def column(t: Any, index: int, width: int) -> Any:
        onehot = np.zeros(width, np.float32)
        onehot[index] = 1.0
        return tf.reduce_sum(t * tf.constant(onehot), axis=1)

    def softplus(v: Any) -> Any:
        return tf.maximum(v, 0.0) + tf.math.log(1.0 + tf.exp(-tf.abs(v)))

    unary = {
        "neg": tf.negative,
        "exp": tf.exp,
        "log": tf.math.log,
        "softplus": softplus,
        "sigmoid": tf.sigmoid,
        "square": tf.square,
        "abs": tf.abs,
        "relu": lambda v: tf.maximum(v, 0.0),
    }
    binary = {
        "add": tf.add,
        "sub": tf.subtract,
        "mul": tf.multiply,
        "div": tf.math.divide,
        "maximum": tf.maximum,
        "minimum": tf.minimum,
    }

    def expr(e: Expr, z: Any, y: Any) -> Any:
        if isinstance(e, Out):
            return column(z, e.index, spec.output_dim)
        if isinstance(e, Label):
            return column(y, e.index, K)
        if isinstance(e, Const):
            return tf.constant(e.value, f32)
        if isinstance(e, Unary):
            return unary[e.op](expr(e.arg, z, y))
        if isinstance(e, Binary):
            return binary[e.op](expr(e.left, z, y), expr(e.right, z, y))
        raise TypeError(f"not a loss expression node: {e!r}")

    def per_sample(z: Any, y: Any) -> Any:
        kind = spec.loss.kind
        if kind == "bce_logits":
            return tf.reduce_mean(softplus(z) - z * y, axis=1)
        if kind == "mse":
            return tf.reduce_mean(tf.square(z - y), axis=1)
        if kind == "softmax_ce":
            m = tf.stop_gradient(tf.reduce_max(z, axis=1))
            lse = m + tf.math.log(tf.reduce_sum(tf.exp(z - tf.expand_dims(m, 1)), axis=1))
            return lse - tf.reduce_sum(z * y, axis=1)
        assert spec.loss.expr is not None
        return expr(spec.loss.expr, z, y)

    def done() -> dict[str, Any]:
        # A signature without outputs is pruned to nothing by the converter, assignments included.
        return {"done": tf.constant(1, tf.int32)}

    def link(z: Any) -> Any:
        if spec.loss.link == "sigmoid":
            return tf.sigmoid(z)
        if spec.loss.link == "softmax":
            return tf.nn.softmax(z, axis=1)
        return z

    params_spec = [tf.TensorSpec(shapes[n], f32, name=n) for n in names]
    optimizer_spec = (
        [tf.TensorSpec(shapes[n], f32, name=adam_m(n)) for n in names]
        + [tf.TensorSpec(shapes[n], f32, name=adam_v(n)) for n in names]
        + [tf.TensorSpec([], f32, name=ADAM_STEP)]
    )

    class SpecModule(tf.Module):
        """Variables plus one ``tf.function`` per signature; only the signatures this spec needs
        exist (saving the module traces every ``tf.function`` attribute)."""

        def __init__(self) -> None:
            super().__init__()
            self.p = [variable(param_var(n), shapes[n]) for n in names]
            data = [
                tf.TensorSpec([B, D], f32, name="x"),
                tf.TensorSpec([B, K], f32, name="y"),
                tf.TensorSpec([B], f32, name="w"),
            ]
            rows = [tf.TensorSpec([None, D], f32, name="x"), tf.TensorSpec([None, K], f32, name="y")]
            functions = {
                "train": data,
                "infer": rows[:1],
                "evaluate": rows,
                "get_weights": [],
                "set_weights": params_spec,
            }
            if l2:
                self.ref = [variable(ref_var(n), shapes[n], False) for n in names]
                functions["set_reference"] = params_spec
            if adam:
                self.m = [variable(adam_m(n), shapes[n], False) for n in names]
                self.v = [variable(adam_v(n), shapes[n], False) for n in names]
                self.step = variable(ADAM_STEP, (), False)
                functions["get_optimizer"] = []
                functions["set_optimizer"] = optimizer_spec
            self.signature_names = list(functions)
            for key, signature in functions.items():  # the converter names signatures after the function
                setattr(self, key, tf.function(getattr(self, key), input_signature=signature))

        def forward(self, x: Any) -> Any:
            h = x
            for i, layer in enumerate(spec.layers):
                h = tf.matmul(h, self.p[2 * i]) + self.p[2 * i + 1]
                if layer.activation == "relu":
                    h = tf.maximum(h, 0.0)
                elif layer.activation == "tanh":
                    h = tf.tanh(h)
                elif layer.activation == "sigmoid":
                    h = tf.sigmoid(h)
            return h

        def train(self, x: Any, y: Any, w: Any) -> dict[str, Any]:
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(w * per_sample(self.forward(x), y)) / tf.maximum(
                    tf.reduce_sum(w), WEIGHT_SUM_EPS
                )
                if l2:
                    loss += l2 * tf.add_n([tf.reduce_sum(tf.square(p - r)) for p, r in zip(self.p, self.ref)])
            grads = tape.gradient(loss, self.p)
            if adam:
                t = self.step + 1.0
                self.step.assign(t)
                lr_t = opt.learning_rate * tf.sqrt(1.0 - tf.pow(opt.beta2, t)) / (1.0 - tf.pow(opt.beta1, t))
                for p, g, m, v in zip(self.p, grads, self.m, self.v):
                    m_new = m.assign(opt.beta1 * m + (1.0 - opt.beta1) * g)
                    v_new = v.assign(opt.beta2 * v + (1.0 - opt.beta2) * tf.square(g))
                    p.assign_sub(lr_t * m_new / (tf.sqrt(v_new) + opt.epsilon))
            else:
                for p, g in zip(self.p, grads):
                    p.assign_sub(opt.learning_rate * g)
            return {"loss": loss}

        def infer(self, x: Any) -> dict[str, Any]:
            return {"output": link(self.forward(x))}

        def evaluate(self, x: Any, y: Any) -> dict[str, Any]:
            z = self.forward(x)
            return {"loss": per_sample(z, y), "output": link(z)}

        def get_weights(self) -> dict[str, Any]:
            return {n: tf.identity(p) for n, p in zip(names, self.p)}

        def set_weights(self, *values: Any) -> dict[str, Any]:
            for p, value in zip(self.p, values):
                p.assign(value)
            return done()

        def set_reference(self, *values: Any) -> dict[str, Any]:
            for r, value in zip(self.ref, values):
                r.assign(value)
            return done()

        def get_optimizer(self) -> dict[str, Any]:
            out = {adam_m(n): tf.identity(m) for n, m in zip(names, self.m)}
            out.update({adam_v(n): tf.identity(v) for n, v in zip(names, self.v)})
            out[ADAM_STEP] = tf.identity(self.step)
            return out

        def set_optimizer(self, *values: Any) -> dict[str, Any]:
            n = len(names)
            for var, value in zip(self.m + self.v, values[: 2 * n]):
                var.assign(value)
            self.step.assign(values[2 * n])
            return done()

    return SpecModule()
