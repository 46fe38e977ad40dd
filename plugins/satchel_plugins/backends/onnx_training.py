"""ONNX Runtime training backend: ``onnx.helper`` builds the spec's graphs, onnxruntime-training
generates the gradient and optimizer models, and ``onnxruntime.training.api`` trains them —
without torch (see :func:`~satchel_plugins.backends._ort.ort_training`).

Predictions and evaluation run in plain ``InferenceSession`` objects on forward graphs whose
parameter initializers are overridden with the live weights (``SessionOptions.add_initializer``,
graph optimizations off: they can fold a stale bias from the file); the sessions are rebuilt lazily
(about 1 ms) after training or ``set_weights``.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from satchel.backend import CompiledModel, Weights
from satchel.model_spec import ModelSpec

from satchel_plugins.backends._common import (
    FORMAT_VERSION,
    Arrays,
    StepFn,
    TrainerBase,
    check_compiled,
    compile_cached,
    dist_version,
)
from satchel_plugins.backends._onnx_graph import build, forward_model, ref_name
from satchel_plugins.backends._ort import ort_training, read_adam_state, write_checkpoint

_FILES_EXPORTED = {"inference": "model.onnx", "training": "training_model.onnx",
                   "optimizer": "optimizer_model.onnx", "checkpoint": "checkpoint"}


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
        self._scratch = tempfile.TemporaryDirectory(prefix="satchel-onnx-")
        self._reference: Arrays = {}
        self._params: Arrays | None = None
        self._initializers: dict[str, Any] = {}
        self._sessions: dict[str, Any] = {}
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
            self._initializers = {n: self._ort.OrtValue.ortvalue_from_numpy(a)
                                  for n, a in self._params.items()}
        session = self._sessions.get(role)
        if session is None:
            so = self._options()
            # With graph optimizations on, ORT 1.19 may fold a bias from the model file instead of
            # its add_initializer override (seen with MatMul+Add); run the graph as written.
            so.graph_optimization_level = self._ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            for name, value in self._initializers.items():
                so.add_initializer(name, value)
            session = self._ort.InferenceSession(str(self._files[role]), so,
                                                 providers=["CPUExecutionProvider"])
            self._sessions[role] = session
        return session

    def _stale(self) -> None:
        self._params = None
        self._sessions.clear()

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
        path = Path(self._scratch.name) / "saved"
        self._api.CheckpointState.save_checkpoint(self._state, path, include_optimizer_state=True)
        return read_adam_state(path, self.spec.param_shapes)

    def _load(self, params: Arrays, optimizer: Arrays) -> None:
        frozen = {ref_name(n): self._reference.get(n, params[n]) for n in self._names} \
            if self.spec.l2_to_reference else {}
        path = Path(self._scratch.name) / "loaded"
        write_checkpoint(path, params, frozen, optimizer if self._adam else None,
                         self.spec.optimizer.learning_rate)
        api = self._api
        self._state = api.CheckpointState.load_checkpoint(path)
        self._module = api.Module(self._files["training"], self._state, session_options=self._options())
        self._optimizer = api.Optimizer(self._files["optimizer"], self._module)
        self._optimizer.set_learning_rate(self.spec.optimizer.learning_rate)
        self._stale()

    def _load_reference(self, params: Arrays) -> None:
        self._reference = params
        for name, value in params.items():
            self._state.parameters[ref_name(name)] = value

    def _write_export(self, directory: Path) -> tuple[dict[str, str], dict[str, object]]:
        import onnx

        spec, params = self.spec, self._read_params()
        onnx.save(forward_model(spec, params, with_loss=False), directory / _FILES_EXPORTED["inference"])
        shutil.copyfile(self._files["training"], directory / _FILES_EXPORTED["training"])
        shutil.copyfile(self._files["optimizer"], directory / _FILES_EXPORTED["optimizer"])
        frozen = {ref_name(n): self._reference[n] for n in self._names} if spec.l2_to_reference else {}
        write_checkpoint(directory / _FILES_EXPORTED["checkpoint"], params, frozen,
                         self._read_optimizer() if self._adam else None, spec.optimizer.learning_rate)
        d, k, out, b = spec.input_dim, spec.label_dim, spec.output_dim, spec.batch_size
        f32 = "float32"
        signatures: dict[str, object] = {
            "inference": {"model": _FILES_EXPORTED["inference"],
                          "inputs": {"x": {"shape": [-1, d], "dtype": f32}},
                          "outputs": {"output": {"shape": [-1, out], "dtype": f32}}},
            "train_step": {"model": _FILES_EXPORTED["training"],
                           "inputs": {"x": {"shape": [b, d], "dtype": f32},
                                      "y": {"shape": [b, k], "dtype": f32},
                                      "w": {"shape": [b], "dtype": f32}},
                           "outputs": {"loss": {"shape": [], "dtype": f32}}},
        }
        return dict(_FILES_EXPORTED), signatures
