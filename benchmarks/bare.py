"""The peers: hand-written loops on the bare runtimes, running the artifacts satchel exported.

``BareLiteRT`` calls ``ai_edge_litert`` signature runners; ``BareOnnx`` calls
``onnxruntime.training.api`` and an ``InferenceSession``. ``bare_fit`` is what a careful script
does without satchel: shuffle, pad the last batch, mask the padding, step.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from satchel.model.backend import Trainer
from satchel.model.dataset import Dataset


class Bare(Protocol):
    def step(self, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> Any: ...

    def predict(self, x: np.ndarray) -> np.ndarray: ...

    def weights(self) -> dict[str, np.ndarray]: ...


class BareLiteRT:
    def __init__(self, export: Path) -> None:
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(export / "model.tflite"), num_threads=1)
        self._train = interpreter.get_signature_runner("train")
        self._infer = interpreter.get_signature_runner("infer")
        self._get = interpreter.get_signature_runner("get_weights")

    def step(self, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> Any:
        return self._train(x=x, y=y, w=w)["loss"]

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self._infer(x=x)["output"]

    def weights(self) -> dict[str, np.ndarray]:
        return dict(self._get())


class BareOnnx:
    def __init__(self, export: Path) -> None:
        import onnxruntime as ort

        from satchel_plugins.backends._ort import ort_training

        api = ort_training("api")
        so = ort.SessionOptions()
        so.intra_op_num_threads = so.inter_op_num_threads = 1
        self._state = api.CheckpointState.load_checkpoint(str(export / "checkpoint"))
        self._module = api.Module(str(export / "training_model.onnx"), self._state, session_options=so)
        self._optimizer = api.Optimizer(str(export / "optimizer_model.onnx"), self._module)
        manifest = json.loads((export / "manifest.json").read_text())
        self._optimizer.set_learning_rate(manifest["spec"]["optimizer"]["learning_rate"])
        self._session = ort.InferenceSession(
            str(export / "model.onnx"), so, providers=["CPUExecutionProvider"]
        )

    def step(self, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> Any:
        out = self._module(x, y, w)  # the exported training model also outputs its predictions
        self._optimizer.step()
        self._module.lazy_reset_grad()
        return out[0] if isinstance(out, (list, tuple)) else out

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self._session.run(["output"], {"x": x})[0]

    def weights(self) -> dict[str, np.ndarray]:
        return {name: np.asarray(param.data) for name, param in self._state.parameters}


BARE = {"litert": BareLiteRT, "onnx": BareOnnx}


def bare_from(trainer: Trainer, backend: str) -> Bare:
    """A bare loop on the artifacts ``trainer`` exports (same graph, same starting weights)."""
    width = trainer.spec.input_dim  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory() as tmp:
        trainer.export(
            Path(tmp), feature_names=tuple(f"f{i}" for i in range(width)), feature_schema_hash="bench"
        )
        return BARE[backend](Path(tmp))


def batches(data: Dataset, bsz: int, order: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Gather rows in ``order``, pad the last batch by repeating rows, and mask the padding."""
    nb = -(-len(order) // bsz)
    idx = np.resize(order, nb * bsz)
    x, y, w = data.x[idx], data.y[idx], data.weights[idx]
    w[len(order) :] = 0.0
    return [(x[i : i + bsz], y[i : i + bsz], w[i : i + bsz]) for i in range(0, nb * bsz, bsz)]


def bare_fit(bare: Bare, data: Dataset, bsz: int, epochs: int, rng: np.random.Generator) -> float:
    """Shuffled epochs of ``data``; returns the last epoch's mean loss."""
    loss = float("nan")
    for _ in range(epochs):
        loss = float(
            np.mean([bare.step(x, y, w) for x, y, w in batches(data, bsz, rng.permutation(len(data)))])
        )
    return loss
