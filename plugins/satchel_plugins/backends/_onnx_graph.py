"""Build a spec's ONNX graphs with ``onnx.helper`` and its ORT training artifacts.

``onnx`` is imported only while graphs are built (compile, export). Opset 17, IR version 9 (ORT 1.19 reads
IR <= 10). Only ops with ORT gradient builders are used on the path to the loss:

- softplus is ``Relu(x) + Log(1 + Exp(-Abs(x)))`` (ORT has no Softplus gradient; onnxblock's
  ``BCEWithLogitsLoss`` is ``log(sigmoid(x))`` and NaNs once logits saturate);
- softmax cross-entropy uses ``ReduceLogSumExp`` (stable, with a gradient);
- output/label columns are ``ReduceSum(t * onehot_i, axis=1)``: several ``Gather`` ops on one
  tensor trip ORT's GatherSliceToSplitFusion ("two nodes with same node name");
- dense layers are ``Gemm`` (unoptimized sessions run it as fast as an optimized MatMul+Add).

Artifacts: ``training_model.onnx`` (forward + objective + gradients), ``optimizer_model.onnx``
(ORT AdamW with ``adam_mode=1`` and no weight decay, or SGD), and two forward graphs whose
parameters are initializers that the runtime overrides with live weights:
``inference.onnx`` (``x[n,d] -> output``) and ``evaluation.onnx`` (``x, y -> loss[n], output``).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from satchel.errors import BackendError
from satchel.model.reference import WEIGHT_SUM_EPS
from satchel.model.spec import Binary, Const, Expr, Label, ModelSpec, Out, Unary, initial_params
from satchel_plugins.backends._ort import ort_training

OPSET = 17
IR_VERSION = 9
FILES = {
    "training": "training_model.onnx",
    "optimizer": "optimizer_model.onnx",
    "inference": "inference.onnx",
    "evaluation": "evaluation.onnx",
}


def ref_name(name: str) -> str:
    """The frozen initializer holding the L2 reference of parameter ``name``."""
    return f"ref__{name}"


class _Graph:
    """Appends nodes with generated output names."""

    def __init__(self) -> None:
        from onnx import helper

        self.h = helper
        self.nodes: list[Any] = []

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs: Any) -> str:
        name = out or f"{op_type.lower()}_{len(self.nodes)}"
        self.nodes.append(self.h.make_node(op_type, list(inputs), [name], **attrs))
        return name

    def const(self, value: float | int | list[int] | list[float], dtype: type = np.float32) -> str:
        from onnx import numpy_helper

        name = f"const_{len(self.nodes)}"
        self.nodes.append(
            self.h.make_node(
                "Constant", [], [name], value=numpy_helper.from_array(np.asarray(value, dtype), name)
            )
        )
        return name


def _forward(g: _Graph, spec: ModelSpec, x: str, *, gemm: bool = True) -> str:
    h = x
    for i, layer in enumerate(spec.layers):
        if gemm:
            h = g.op("Gemm", h, f"dense_{i}_kernel", f"dense_{i}_bias")
        else:  # MatMul + Add: what onnxruntime.quantization's dynamic int8 quantizes (it skips Gemm)
            h = g.op("Add", g.op("MatMul", h, f"dense_{i}_kernel"), f"dense_{i}_bias")
        if layer.activation == "relu":
            h = g.op("Relu", h)
        elif layer.activation == "tanh":
            h = g.op("Tanh", h)
        elif layer.activation == "sigmoid":
            h = g.op("Sigmoid", h)
    return h


def _softplus(g: _Graph, v: str) -> str:
    tail = g.op("Log", g.op("Add", g.op("Exp", g.op("Neg", g.op("Abs", v))), g.const(1.0)))
    return g.op("Add", g.op("Relu", v), tail)


_UNARY = {"neg": "Neg", "exp": "Exp", "log": "Log", "sigmoid": "Sigmoid", "abs": "Abs", "relu": "Relu"}
_BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "maximum": "Max", "minimum": "Min"}


def _expr(g: _Graph, spec: ModelSpec, e: Expr, z: str, y: str) -> str:
    if isinstance(e, (Out, Label)):
        source, width = (z, spec.output_dim) if isinstance(e, Out) else (y, spec.label_dim)
        return g.op(
            "ReduceSum",
            g.op("Mul", source, g.const(np.eye(width)[e.index].tolist())),
            g.const([1], np.int64),
            keepdims=0,
        )
    if isinstance(e, Const):
        return g.const(e.value)
    if isinstance(e, Unary):
        v = _expr(g, spec, e.arg, z, y)
        if e.op == "softplus":
            return _softplus(g, v)
        if e.op == "square":
            return g.op("Mul", v, v)
        return g.op(_UNARY[e.op], v)
    if isinstance(e, Binary):
        return g.op(_BINARY[e.op], _expr(g, spec, e.left, z, y), _expr(g, spec, e.right, z, y))
    raise TypeError(f"not a loss expression node: {e!r}")


def _per_sample(g: _Graph, spec: ModelSpec, z: str, y: str, out: str | None = None) -> str:
    kind = spec.loss.kind
    axis1 = g.const([1], np.int64)
    if kind in ("bce_logits", "mse"):
        if kind == "bce_logits":
            terms = g.op("Sub", _softplus(g, z), g.op("Mul", z, y))
        else:
            diff = g.op("Sub", z, y)
            terms = g.op("Mul", diff, diff)
        total = g.op("ReduceSum", terms, axis1, keepdims=0)
        return g.op("Mul", total, g.const(1.0 / spec.output_dim), out=out)
    if kind == "softmax_ce":
        # keepdims=0 breaks ORT's ReduceLogSumExp gradient (an opset-11 Unsqueeze): keep, then sum away.
        lse = g.op("ReduceSum", g.op("ReduceLogSumExp", z, axes=[1], keepdims=1), axis1, keepdims=0)
        return g.op("Sub", lse, g.op("ReduceSum", g.op("Mul", z, y), axis1, keepdims=0), out=out)
    assert spec.loss.expr is not None
    return g.op("Identity", _expr(g, spec, spec.loss.expr, z, y), out=out)


def _link(g: _Graph, spec: ModelSpec, z: str) -> str:
    op = {"sigmoid": "Sigmoid", "softmax": "Softmax", "identity": "Identity"}[spec.loss.link]
    return g.op(op, z, out="output", **({"axis": 1} if op == "Softmax" else {}))


def _model(g: _Graph, inputs: list[Any], outputs: list[Any], initializers: Mapping[str, np.ndarray]) -> Any:
    from onnx import numpy_helper

    graph = g.h.make_graph(
        g.nodes,
        "satchel",
        inputs,
        outputs,
        initializer=[numpy_helper.from_array(a, n) for n, a in initializers.items()],
    )
    return g.h.make_model(
        graph, opset_imports=[g.h.make_opsetid("", OPSET)], ir_version=IR_VERSION, producer_name="satchel"
    )


def training_model(spec: ModelSpec, *, with_output: bool = False) -> Any:
    """Forward pass and the weighted objective (plus L2 pull) on a fixed batch ``(x, y, w)``;
    ``with_output`` also computes the link-applied ``output`` and leaves the row count symbolic
    (for device artifacts: their eval model must hold ``output`` and take any number of rows, so the
    inference model a device exports from it does too)."""
    from onnx import TensorProto

    g = _Graph()
    B: int | str = "batch" if with_output else spec.batch_size
    z = _forward(g, spec, "x")
    if with_output:
        _link(g, spec, z)
    per = _per_sample(g, spec, z, "y")
    num = g.op("ReduceSum", g.op("Mul", "w", per), keepdims=0)
    den = g.op("Max", g.op("ReduceSum", "w", keepdims=0), g.const(WEIGHT_SUM_EPS))
    params = initial_params(spec)
    inits = dict(params)
    if spec.l2_to_reference:
        loss = g.op("Div", num, den)
        penalties = []
        for name in params:
            diff = g.op("Sub", name, ref_name(name))
            penalties.append(g.op("ReduceSum", g.op("Mul", diff, diff), keepdims=0))
            inits[ref_name(name)] = params[name]
        total = penalties[0]
        for p in penalties[1:]:
            total = g.op("Add", total, p)
        g.op("Add", loss, g.op("Mul", total, g.const(spec.l2_to_reference)), out="loss")
    else:
        g.op("Div", num, den, out="loss")
    f32 = TensorProto.FLOAT
    inputs = [
        g.h.make_tensor_value_info("x", f32, [B, spec.input_dim]),
        g.h.make_tensor_value_info("y", f32, [B, spec.label_dim]),
        g.h.make_tensor_value_info("w", f32, [B]),
    ]
    return _model(g, inputs, [g.h.make_tensor_value_info("loss", f32, [])], inits)


def forward_model(
    spec: ModelSpec, params: Mapping[str, np.ndarray], *, with_loss: bool, gemm: bool = True
) -> Any:
    """``x[n,d] -> output`` (link applied), plus per-sample ``loss[n]`` from ``y`` when ``with_loss``;
    dense layers as ``Gemm``, or as ``MatMul`` + ``Add`` when not ``gemm``."""
    from onnx import TensorProto

    g = _Graph()
    z = _forward(g, spec, "x", gemm=gemm)
    f32 = TensorProto.FLOAT
    inputs = [g.h.make_tensor_value_info("x", f32, ["n", spec.input_dim])]
    outputs = [g.h.make_tensor_value_info("output", f32, ["n", spec.output_dim])]
    _link(g, spec, z)
    if with_loss:
        _per_sample(g, spec, z, "y", out="loss")
        inputs.append(g.h.make_tensor_value_info("y", f32, ["n", spec.label_dim]))
        outputs.append(g.h.make_tensor_value_info("loss", f32, ["n"]))
    return _model(g, inputs, outputs, params)


def onnx_signature(path: Path) -> dict[str, object]:
    """Inputs (initializers excluded) and outputs of an ONNX model: shapes (-1 = any) and dtypes."""
    import onnx

    model = onnx.load(path)
    inits = {i.name for i in model.graph.initializer}

    def describe(values: Any) -> dict[str, object]:
        return {
            v.name: {
                "shape": [
                    d.dim_value if d.HasField("dim_value") else -1 for d in v.type.tensor_type.shape.dim
                ],
                "dtype": onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type).name,
            }
            for v in values
            if v.name not in inits
        }

    return {"inputs": describe(model.graph.input), "outputs": describe(model.graph.output)}


class _Captured:
    def __init__(self, file: Any) -> None:
        self._file = file

    def problems(self) -> str:
        """The captured lines that are not INFO chatter (the last 20)."""
        self._file.seek(0)
        lines = self._file.read().decode(errors="replace").splitlines()
        return "\n".join([line for line in lines if "[I:onnxruntime" not in line][-20:])


@contextlib.contextmanager
def _native_stderr_captured() -> Iterator[_Captured]:
    """Capture file descriptor 2: ORT's gradient builder logs every graph transformer at INFO
    through a logger that ``set_default_logger_severity`` does not reach."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as f:
        os.dup2(f.fileno(), 2)
        try:
            yield _Captured(f)
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _generate(spec: ModelSpec, directory: Path, *, with_output: bool, ort_format: bool = False) -> None:
    """ORT's ``generate_artifacts``: training, eval and optimizer models (the checkpoint it writes
    holds initial weights; satchel writes its own)."""
    artifacts, onnxblock = ort_training("artifacts"), ort_training("onnxblock")
    opt = spec.optimizer
    optimizer = (
        onnxblock.optim.AdamW(betas=(opt.beta1, opt.beta2), eps=opt.epsilon, weight_decay=0.0)
        if opt.kind == "adam"
        else onnxblock.optim.SGD()
    )
    names = list(spec.param_shapes)
    with (
        _native_stderr_captured() as log,
        contextlib.redirect_stdout(io.StringIO()),
    ):  # ORT conversion chatter
        try:
            artifacts.generate_artifacts(
                training_model(spec, with_output=with_output),
                requires_grad=names,
                frozen_params=[ref_name(n) for n in names] if spec.l2_to_reference else None,
                loss=None,
                optimizer=optimizer,
                artifact_directory=directory,
                ort_format=ort_format,
                additional_output_names=["output"] if with_output else None,
            )
        except Exception as exc:
            raise BackendError(
                f"onnx: generating training artifacts failed: {exc}\n{log.problems()}",
                hint="check that every op of the loss has an ORT gradient",
            ) from exc
    (directory / "checkpoint").unlink()


def device_artifacts(spec: ModelSpec, directory: Path, *, ort_format: bool) -> dict[str, str]:
    """Training, eval and optimizer models for a device, by role: the training and eval models
    return ``(loss, output)``, so ``Module.export_model_for_inferencing(path, ["output"])`` works
    on the device. With ``ort_format`` the ``.ort`` copies (ONNX Runtime Mobile) are written too."""
    with tempfile.TemporaryDirectory(prefix="satchel-onnx-device-") as tmp:
        _generate(spec, Path(tmp), with_output=True, ort_format=ort_format)
        files: dict[str, str] = {}
        for role, stem in (
            ("training", "training_model"),
            ("eval", "eval_model"),
            ("optimizer", "optimizer_model"),
        ):
            for suffix, tag in ((".onnx", ""), (".ort", "_ort")):
                source = Path(tmp) / f"{stem}{suffix}"
                if source.exists():
                    os.replace(source, directory / source.name)
                    files[role + tag] = source.name
    return files


def build(spec: ModelSpec, directory: Path) -> dict[str, str]:
    """Write the training, optimizer, inference and evaluation models into ``directory``."""
    import onnx

    _generate(spec, directory, with_output=False)
    # open() writes its own checkpoint from the weights it is given; the eval model is unused.
    (directory / "eval_model.onnx").unlink()
    params = initial_params(spec)
    onnx.save(forward_model(spec, params, with_loss=False), directory / FILES["inference"])
    onnx.save(forward_model(spec, params, with_loss=True), directory / FILES["evaluation"])
    return dict(FILES)
