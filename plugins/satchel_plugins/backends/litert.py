"""LiteRT backend: TensorFlow compiles a spec to a builtin-only ``.tflite`` with training
signatures; ``ai_edge_litert`` runs it. TensorFlow is imported only when a spec is compiled
(a cache miss); training, prediction and export need ``ai_edge_litert`` alone.

Signatures of the compiled model (all float32): ``train(x[B,d], y[B,k], w[B]) -> loss``,
``infer(x[n,d]) -> output``, ``evaluate(x[n,d], y[n,k]) -> loss[n], output``,
``get_weights``/``set_weights`` (one tensor per parameter), ``get_optimizer``/``set_optimizer``
(Adam: ``adam_m__<param>``, ``adam_v__<param>``, ``adam_step``) and, with an L2 pull,
``set_reference``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from satchel.errors import BackendError
from satchel.model.backend import CompiledModel, Weights
from satchel.model.spec import ModelSpec
from satchel_plugins._native_logs import quiet_native_logs
from satchel_plugins.backends._compile_cache import (
    FORMAT_VERSION,
    check_compiled,
    compile_cached,
    dist_version,
)
from satchel_plugins.backends._fit_loop import StepFn
from satchel_plugins.backends._input_checks import Arrays
from satchel_plugins.backends._tf_build import INFERENCE_FILES, MODEL_FILE, build, inference_models
from satchel_plugins.backends._tflite import (
    ADAM_STEP,
    Signature,
    adam_m,
    adam_v,
    bake_variables,
    embed_metadata,
    param_var,
    ref_var,
)
from satchel_plugins.backends._trainer_base import Export, TrainerBase, artifact

#: name of the flatbuffer metadata entry holding satchel's JSON tag (spec hash, feature schema, ...)
METADATA_NAME = "satchel"
_NOTES = {
    "float32": "inference only, trained weights as constants",
    "float16": "float16 weights, dequantized to float32 when the model loads",
    "int8": "weight-only int8 (per output channel, symmetric); float activations (hybrid kernels)",
}


class LiteRTBackend:
    """Compiles specs with TensorFlow (cached on disk) and opens ``ai_edge_litert`` trainers."""

    name = "litert"

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        # The runtime, not the compiler, decides whether artifacts load: TensorFlow is not part of
        # the key, so artifacts compiled elsewhere serve a machine without TensorFlow.
        self.version = f"{FORMAT_VERSION}+litert{dist_version('ai-edge-litert')}"

    def compile(self, spec: ModelSpec, cache_dir: Path) -> CompiledModel:
        """The cached ``model.tflite`` for ``spec``; converts it (importing TensorFlow) on a miss."""
        return compile_cached(spec, cache_dir, self.name, self.version, build)

    def open(self, compiled: CompiledModel, weights: Weights | None = None) -> LiteRTTrainer:
        """A trainer on ``compiled`` starting from ``weights`` (default: ``initial_params(spec)``),
        which are also the L2 reference until :meth:`~TrainerBase.set_reference`."""
        check_compiled(compiled, self.name, self.version)
        return LiteRTTrainer(compiled, weights, self.threads)


class LiteRTTrainer(TrainerBase):
    """A LiteRT interpreter holding the model's variables; see :class:`TrainerBase` for the API."""

    backend = "litert"

    def __init__(self, compiled: CompiledModel, weights: Weights | None, threads: int) -> None:
        super().__init__(compiled.spec, weights)
        from ai_edge_litert.interpreter import Interpreter

        self._model = compiled.directory / compiled.files["model"]
        with quiet_native_logs():  # the XNNPACK banner, once per interpreter
            self._interpreter = Interpreter(model_path=str(self._model), num_threads=threads)
            self._sigs = {
                key: Signature(self._interpreter, key) for key in self._interpreter.get_signature_list()
            }
        self._train = self._sigs["train"].fixed(("x", "y", "w"), "loss")
        self._predict = self._sigs["infer"].rows("x", "output")
        self._names = list(self.spec.param_shapes)
        self._adam = self.spec.optimizer.kind == "adam"
        self._reference: Arrays = {}
        self._start()

    def _stepper(self) -> StepFn:
        return self._train

    def _infer(self, x: np.ndarray) -> np.ndarray:
        return self._predict(x)

    def _evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = self._sigs["evaluate"](x=x, y=y)
        return out["loss"], out["output"]

    def _read_params(self) -> Arrays:
        return self._sigs["get_weights"]()

    def _read_optimizer(self) -> Arrays:
        if not self._adam:
            return {}
        raw = self._sigs["get_optimizer"]()
        state: Arrays = {}
        for n in self._names:
            state[f"m/{n}"] = raw[adam_m(n)]
            state[f"v/{n}"] = raw[adam_v(n)]
        state["step"] = np.asarray(round(float(raw[ADAM_STEP])), np.int64)
        return state

    def _load(self, params: Arrays, optimizer: Arrays) -> None:
        self._sigs["set_weights"](**params)
        if self._adam:
            feeds = {adam_m(n): optimizer[f"m/{n}"] for n in self._names}
            feeds.update({adam_v(n): optimizer[f"v/{n}"] for n in self._names})
            feeds[ADAM_STEP] = np.asarray(optimizer["step"], np.float32)
            self._sigs["set_optimizer"](**feeds)

    def _load_reference(self, params: Arrays) -> None:
        self._reference = params
        self._sigs["set_reference"](**params)

    def _write_export(self, directory: Path, metadata: Mapping[str, str]) -> Export:
        params = self._read_params()
        values = {param_var(n): a for n, a in params.items()}
        values.update({ref_var(n): a for n, a in self._reference.items()})
        if self._adam:
            raw = self._sigs["get_optimizer"]()
            values.update({adam_m(n): raw[adam_m(n)] for n in self._names})
            values.update({adam_v(n): raw[adam_v(n)] for n in self._names})
            values[ADAM_STEP] = raw[ADAM_STEP]
        tag = json.dumps(dict(metadata), sort_keys=True).encode()
        model = embed_metadata(bake_variables(self._model.read_bytes(), values), METADATA_NAME, tag)
        self._check_baked(model, params)
        (directory / MODEL_FILE).write_bytes(model)
        artifacts = [artifact("model", MODEL_FILE, "tflite", "train", signatures=sorted(self._sigs))]
        runtime = {
            "ai-edge-litert": dist_version("ai-edge-litert"),
            "ops": "TFLITE_BUILTINS only",
            "tensorflow_at_export": dist_version("tensorflow", "tensorflow-cpu"),
        }
        try:
            inference = inference_models(self.spec, params)
        except BackendError as exc:  # no TensorFlow where this runs: the training model still serves
            runtime["quantized_inference"] = f"not written: {exc}"
        else:
            for precision, data in inference.items():
                (directory / INFERENCE_FILES[precision]).write_bytes(embed_metadata(data, METADATA_NAME, tag))
                artifacts.append(
                    artifact(
                        f"infer_{precision}",
                        INFERENCE_FILES[precision],
                        "tflite",
                        "infer",
                        precision,
                        signatures=["infer"],
                        note=_NOTES[precision],
                    )
                )
        return Export(tuple(artifacts), {key: sig.details() for key, sig in self._sigs.items()}, runtime)

    @staticmethod
    def _check_baked(model: bytes, params: Arrays) -> None:
        """The exported model must start from exactly the trained parameters."""
        from ai_edge_litert.interpreter import Interpreter

        with quiet_native_logs():
            interpreter = Interpreter(model_content=model)
        loaded = Signature(interpreter, "get_weights")()
        if any(not np.array_equal(loaded[n], a) for n, a in params.items()):
            raise BackendError(
                "litert.export: the exported model does not reproduce the trained weights",
                hint="recompile the spec and export again",
            )
