"""ONNX Runtime training backend: ``onnx.helper`` builds the spec's graphs, onnxruntime-training
generates the gradient and optimizer models, and ``onnxruntime.training.api`` trains them —
without torch (see :func:`~satchel_plugins.backends._ort.ort_training`).

Predictions and evaluation run in plain ``InferenceSession`` objects on forward graphs whose
parameter initializers are overridden with the live weights (``SessionOptions.add_initializer``,
graph optimizations off: they can fold a stale bias from the file); the sessions are rebuilt lazily
(about 1 ms) after training or ``set_weights``. A single float32 row is predicted through input and
output buffers bound to the session once (``IOBinding``), without per-call name, dict or array
conversions — cheaper than a bare ``InferenceSession.run``.
"""

from __future__ import annotations

import math
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from satchel.model.backend import CompiledModel, Weights
from satchel.model.spec import ModelSpec
from satchel_plugins.backends._compile_cache import (
    FORMAT_VERSION,
    check_compiled,
    compile_cached,
    dist_version,
)
from satchel_plugins.backends._fit_loop import StepFn
from satchel_plugins.backends._input_checks import Arrays
from satchel_plugins.backends._onnx_graph import (
    IR_VERSION,
    OPSET,
    build,
    device_artifacts,
    forward_model,
    onnx_signature,
    ref_name,
)
from satchel_plugins.backends._ort import ScratchFiles, ort_training, read_adam_state, write_checkpoint
from satchel_plugins.backends._trainer_base import Export, TrainerBase, artifact


class OnnxBackend:
    """Compiles specs to ORT training artifacts (cached on disk) and opens ORT trainers."""

    name = "onnx"

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        ort_version = dist_version("onnxruntime-training-cpu", "onnxruntime-training")
        self.version = f"{FORMAT_VERSION}+ort{ort_version}"

    def compile(self, spec: ModelSpec, cache_dir: Path) -> CompiledModel:
        """The cached training/optimizer/inference models for ``spec``, built on a miss."""
        return compile_cached(spec, cache_dir, self.name, self.version, build)

    def open(self, compiled: CompiledModel, weights: Weights | None = None) -> OnnxTrainer:
        """A trainer on ``compiled`` starting from ``weights`` (default: ``initial_params(spec)``),
        which are also the L2 reference until :meth:`~TrainerBase.set_reference`."""
        check_compiled(compiled, self.name, self.version)
        return OnnxTrainer(compiled, weights, self.threads)


class OnnxTrainer(TrainerBase):
    """An ORT training ``Module`` + ``Optimizer``; see :class:`TrainerBase` for the API."""

    backend = "onnx"

    def __init__(self, compiled: CompiledModel, weights: Weights | None, threads: int) -> None:
        super().__init__(compiled.spec, weights)
        import onnxruntime

        self._ort = onnxruntime
        self._api = ort_training("api")
        self._files = {role: compiled.directory / name for role, name in compiled.files.items()}
        self._threads = threads
        self._names = list(self.spec.param_shapes)
        self._adam = self.spec.optimizer.kind == "adam"
        self._scratch = ScratchFiles(compiled.directory)
        self._reference: Arrays = {}
        self._state: Any = None  # the ORT CheckpointState, set when the module is built
        self._params: Arrays | None = None
        self._initializers: dict[str, Any] = {}
        self._sessions: dict[str, Any] = {}
        self._row_shapes = ((self.spec.input_dim,), (1, self.spec.input_dim))
        self._row: _RowBinding | None = None
        self._loaded: Arrays | None = None  # optimizer state known to be in the module; None once trained
        self._start()

    # -- sessions ------------------------------------------------------------------------
    def _options(self) -> Any:
        so = self._ort.SessionOptions()
        so.intra_op_num_threads = self._threads
        so.inter_op_num_threads = 1
        return so

    def _session(self, role: str) -> Any:
        """An InferenceSession on the ``role`` forward graph with the live weights."""
        if self._params is None:
            self._params = self._read_params()
            # ORT borrows these buffers: they must outlive the sessions built on them.
            self._initializers = {
                n: self._ort.OrtValue.ortvalue_from_numpy(a) for n, a in self._params.items()
            }
        session = self._sessions.get(role)
        if session is None:
            so = self._options()
            # With graph optimizations on, ORT 1.19 may fold a bias from the model file instead of
            # its add_initializer override (seen with MatMul+Add); run the graph as written.
            so.graph_optimization_level = self._ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            for name, value in self._initializers.items():
                so.add_initializer(name, value)
            session = self._ort.InferenceSession(
                str(self._files[role]), so, providers=["CPUExecutionProvider"]
            )
            self._sessions[role] = session
        return session

    def _stale(self) -> None:
        self._params = None
        self._sessions.clear()
        self._row = None

    def predict(self, x: np.ndarray) -> np.ndarray:
        """As :meth:`TrainerBase.predict`; one float32 row runs through buffers bound to the session
        (in the thread that first did so; other threads, other inputs and non-finite rows take the
        checked path, which raises for bad input)."""
        if type(x) is np.ndarray and x.dtype == np.float32 and x.shape in self._row_shapes:
            row = self._row
            if row is None:
                row = self._row = _RowBinding(
                    self._ort, self._session("inference"), self.spec.output_dim, x.size
                )
            if row.thread == threading.get_ident():
                row.x[...] = x
                if math.isfinite(
                    row.flat.dot(row.tiny)
                ):  # finite iff every feature is; else the checked path
                    row.run(row.binding)
                    return row.y.copy()
        return super().predict(x)

    # -- TrainerBase primitives --------------------------------------------------------------
    def _stepper(self) -> StepFn:
        module, optimizer_step = self._module, self._optimizer.step
        reset = module.lazy_reset_grad

        def step(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> Any:
            loss = module(x, y, w)
            optimizer_step()
            reset()
            return loss

        return step

    def _after_fit(self) -> None:
        self._loaded = None if self._adam else {}
        self._stale()

    def _infer(self, x: np.ndarray) -> np.ndarray:
        session = self._sessions.get("inference")
        if session is None:
            session = self._session("inference")
        return session.run(["output"], {"x": x})[0]

    def _evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        loss, output = self._session("evaluation").run(["loss", "output"], {"x": x, "y": y})
        return loss, output

    def _read_params(self) -> Arrays:
        parameters = self._state.parameters
        return {n: np.array(parameters[n].data, np.float32) for n in self._names}

    def _read_optimizer(self) -> Arrays:
        if not self._adam:
            return {}
        path = self._scratch.path("saved")
        self._api.CheckpointState.save_checkpoint(self._state, path, include_optimizer_state=True)
        state = read_adam_state(path, self.spec.param_shapes)
        self._loaded = {name: value.copy() for name, value in state.items()}
        return state

    def _load(self, params: Arrays, optimizer: Arrays) -> None:
        """Parameters and optimizer state into a new module; only the parameters, in place, when the
        module already holds that optimizer state (e.g. output-layer calibration after a fit)."""
        if (
            self._loaded is not None
            and self._loaded.keys() == optimizer.keys()
            and all(np.array_equal(self._loaded[k], v) for k, v in optimizer.items())
        ):
            for name, value in params.items():
                self._state.parameters[name] = value
            self._stale()
            return
        frozen = (
            {ref_name(n): self._reference.get(n, params[n]) for n in self._names}
            if self.spec.l2_to_reference
            else {}
        )
        path = self._scratch.path("loaded")
        write_checkpoint(
            path, params, frozen, optimizer if self._adam else None, self.spec.optimizer.learning_rate
        )
        api = self._api
        self._state = api.CheckpointState.load_checkpoint(path)
        self._module = api.Module(self._files["training"], self._state, session_options=self._options())
        self._optimizer = api.Optimizer(self._files["optimizer"], self._module)
        self._optimizer.set_learning_rate(self.spec.optimizer.learning_rate)
        self._loaded = optimizer if self._adam else {}
        self._stale()

    def _load_reference(self, params: Arrays) -> None:
        self._reference = params
        for name, value in params.items():
            self._state.parameters[ref_name(name)] = value

    def _write_export(self, directory: Path, metadata: Mapping[str, str]) -> Export:
        import onnx

        spec, params = self.spec, self._read_params()
        onnx.save(_tagged(forward_model(spec, params, with_loss=False), metadata), directory / INFERENCE_FILE)
        artifacts = [artifact("inference", INFERENCE_FILE, "onnx", "infer")]
        artifacts += _int8_inference(spec, params, directory)
        onnx.save(_tagged(onnx.load(directory / INT8_FILE), metadata), directory / INT8_FILE)
        device = device_artifacts(spec, directory, ort_format=True)
        purposes = {"training": "train", "eval": "eval", "optimizer": "optimizer"}
        for role, name in device.items():
            artifacts.append(
                artifact(
                    role,
                    name,
                    "ort" if name.endswith(".ort") else "onnx",
                    purposes[role.removesuffix("_ort")],
                )
            )
        artifacts += _ort_inference(directory, [a for a in artifacts if a["purpose"] == "infer"])
        frozen = {ref_name(n): self._reference[n] for n in self._names} if spec.l2_to_reference else {}
        write_checkpoint(
            directory / CHECKPOINT_FILE,
            params,
            frozen,
            self._read_optimizer() if self._adam else None,
            spec.optimizer.learning_rate,
        )
        artifacts.append(
            artifact(
                "checkpoint",
                CHECKPOINT_FILE,
                "ort-checkpoint",
                "state",
                note="parameters, L2 reference (frozen) and optimizer state",
            )
        )
        signatures = {
            role: {"model": device[role], **onnx_signature(directory / device[role])}
            for role in ("training", "eval")
        }
        signatures["inference"] = {"model": INFERENCE_FILE, **onnx_signature(directory / INFERENCE_FILE)}
        runtime = {
            "onnxruntime-training": dist_version("onnxruntime-training-cpu", "onnxruntime-training"),
            "onnx_opset": str(OPSET),
            "onnx_ir_version": str(IR_VERSION),
            "support": ORT_TRAINING_SUPPORT,
        }
        return Export(tuple(artifacts), signatures, runtime)


class _RowBinding:
    """An ``IOBinding`` of a session's input and output to this object's one-row buffers, for the
    thread that created it."""

    def __init__(self, ort: Any, session: Any, outputs: int, width: int) -> None:
        self.x = np.zeros((1, width), np.float32)
        self.flat = self.x.reshape(-1)
        self.tiny = np.full(
            width, 2.0**-126, np.float32
        )  # x . tiny: at most 4 per finite feature, no overflow
        self.y = np.zeros((1, outputs), np.float32)
        self.binding = session.io_binding()
        self.binding.bind_ortvalue_input("x", ort.OrtValue.ortvalue_from_numpy(self.x))
        self.binding.bind_ortvalue_output("output", ort.OrtValue.ortvalue_from_numpy(self.y))
        self.run = session.run_with_iobinding
        self.thread = threading.get_ident()


INFERENCE_FILE, INT8_FILE, CHECKPOINT_FILE = "model.onnx", "model_int8.onnx", "checkpoint"
#: What the manifest says about the training runtime's future (see docs/mobile.md).
ORT_TRAINING_SUPPORT = (
    "onnxruntime-training 1.19.2 (Aug 2024) is the last release with on-device training packages "
    "(onnxruntime-training-android, onnxruntime-training-objc); inference packages continue. Pin 1.19.2 for "
    "on-device training; model.onnx / model.ort need only ONNX Runtime (Mobile) inference. If the training "
    "packages are never revived, satchel's plan: the LiteRT export (same spec, same weights, same optimizer "
    "state layout) becomes the on-device training path and ONNX stays inference-only."
)


def _tagged(model: Any, metadata: Mapping[str, str]) -> Any:
    """``model`` with ``metadata`` as ``metadata_props`` (read by ``InferenceSession.get_modelmeta()``)."""
    import onnx

    onnx.helper.set_model_props(model, dict(metadata))
    return model


def _int8_inference(spec: ModelSpec, params: Arrays, directory: Path) -> list[dict[str, object]]:
    """Dynamic int8 quantization (onnxruntime.quantization) of a MatMul + Add forward graph."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(
        prefix=".satchel-onnx-q-", dir=directory
    ) as tmp:  # weights stay in the export
        source = Path(tmp) / "matmul.onnx"
        onnx.save(forward_model(spec, params, with_loss=False, gemm=False), source)
        quantize_dynamic(source, directory / INT8_FILE, weight_type=QuantType.QInt8, per_channel=True)
    return [
        artifact(
            "inference_int8",
            INT8_FILE,
            "onnx",
            "infer",
            "int8",
            note="dynamic quantization: int8 weights per output channel, activations quantized per call",
        )
    ]


def _ort_inference(directory: Path, models: list[dict[str, object]]) -> list[dict[str, object]]:
    """ORT-format copies (ONNX Runtime Mobile) of the inference models."""
    import contextlib
    import io

    from onnxruntime.tools.convert_onnx_models_to_ort import OptimizationStyle, convert_onnx_models_to_ort

    out = []
    for a in models:
        source = directory / str(a["file"])
        with contextlib.redirect_stdout(io.StringIO()):
            convert_onnx_models_to_ort(
                source, output_dir=directory, optimization_styles=[OptimizationStyle.Fixed]
            )
        (directory / f"{source.stem}.required_operators.config").unlink(missing_ok=True)
        out.append({**a, "role": f"{a['role']}_ort", "file": f"{source.stem}.ort", "format": "ort"})
    return out
