"""The backend-independent half of a trainer (:class:`TrainerBase`) and the export it writes: the
manifest with its artifacts and training contract."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from satchel.errors import ShapeError
from satchel.model import export_contract
from satchel.model.backend import ExportManifest, FitResult, ProgressCallback, Weights
from satchel.model.dataset import Dataset
from satchel.model.spec import ModelSpec, initial_params
from satchel_plugins.backends._fit_loop import StepFn, metrics, run_fit
from satchel_plugins.backends._input_checks import Arrays, as_rows, check_dataset, check_params
from satchel_plugins.backends._optimizer_state import check_optimizer_state, optimizer_format


class TrainerBase(ABC):
    """The backend-independent half of a :class:`~satchel.model.backend.Trainer`.

    Subclasses provide the runtime primitives: ``_stepper`` (trains one fixed-size batch), ``_infer``,
    ``_evaluate``, ``_read_params``, ``_read_optimizer``, ``_load`` (params + optimizer state),
    ``_load_reference`` and ``_write_export``. The L2 reference defaults to the weights the
    trainer was opened with.
    """

    backend = ""

    def __init__(self, spec: ModelSpec, weights: Weights | None) -> None:
        self.spec = spec
        self._width = spec.input_dim
        self._format = optimizer_format(spec)
        start = weights if weights is not None else Weights(initial_params(spec))
        self._pending = (
            check_params(spec, start.params, f"{self.backend}.open"),
            check_optimizer_state(spec, start, f"{self.backend}.open"),
        )

    # -- runtime primitives ----------------------------------------------------------------
    @abstractmethod
    def _stepper(self) -> StepFn:
        """``step(x, y, w)``: train on one batch of exactly ``batch_size`` rows, return its objective."""

    @abstractmethod
    def _infer(self, x: np.ndarray) -> np.ndarray:
        """Link-applied outputs for validated rows."""

    @abstractmethod
    def _evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-sample losses (n,) and link-applied outputs (n, k)."""

    @abstractmethod
    def _read_params(self) -> Arrays: ...

    @abstractmethod
    def _read_optimizer(self) -> Arrays: ...

    @abstractmethod
    def _load(self, params: Arrays, optimizer: Arrays) -> None:
        """Replace parameters and optimizer state (both already checked)."""

    @abstractmethod
    def _load_reference(self, params: Arrays) -> None: ...

    @abstractmethod
    def _write_export(self, directory: Path, metadata: Mapping[str, str]) -> Export:
        """Write deployable files, embedding ``metadata`` in each model file that can hold it;
        return what they are (see :class:`Export`)."""

    def _after_fit(self) -> None:  # noqa: B027 - an optional hook: most backends need nothing here
        """Called after training changed the weights."""

    # -- Trainer protocol ----------------------------------------------------------------------
    def _start(self) -> None:
        """Load the weights given to ``open`` (called by subclasses once the runtime is up)."""
        params, optimizer = self._pending
        self._load(params, optimizer)
        self.set_reference(params)

    def fit(
        self,
        data: Dataset,
        epochs: int = 1,
        *,
        shuffle: bool = True,
        seed: int = 0,
        progress: ProgressCallback | None = None,
    ) -> FitResult:
        """Train ``epochs`` passes; see :func:`run_fit` for batching and progress ticks.

        Raises :class:`BackendError` if an epoch's loss is not finite (the weights are then
        unusable: set earlier ones)."""
        try:
            return run_fit(self.spec, self._stepper(), data, epochs, shuffle, seed, progress)
        finally:
            self._after_fit()

    def evaluate(self, data: Dataset) -> dict[str, float]:
        """``loss`` (weighted mean per-sample loss, no L2 pull) and, for bce/softmax, ``accuracy``."""
        check_dataset(self.spec, data, "evaluate")
        per_sample, pred = self._evaluate(data.x, data.y)
        return metrics(self.spec, per_sample.astype(np.float64), pred, data)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Link-applied outputs, float32 (n, output_dim), for one row (d,) / (1, d) or a batch (n, d)."""
        return self._infer(as_rows(x, self._width, "predict"))

    def get_weights(self) -> Weights:
        """Parameters and optimizer state (:data:`ADAM_FORMAT` or :data:`SGD_FORMAT`), as copies."""
        return Weights(self._read_params(), self._read_optimizer(), self._format)

    def set_weights(self, weights: Weights) -> None:
        """Load parameters; optimizer state too, or a fresh optimizer when ``weights.optimizer`` is empty."""
        params = check_params(self.spec, weights.params, "set_weights")
        self._load(params, check_optimizer_state(self.spec, weights, "set_weights"))

    def set_reference(self, params: Mapping[str, np.ndarray]) -> None:
        """Set the weights the L2 term pulls toward (no effect when ``l2_to_reference`` is 0)."""
        ref = check_params(self.spec, params, "set_reference")
        if self.spec.l2_to_reference:
            self._load_reference(ref)

    def export(
        self, directory: Path, *, feature_names: tuple[str, ...], feature_schema_hash: str
    ) -> ExportManifest:
        """Write the deployable model with the current weights, ``manifest.json`` and its schema
        into ``directory`` (features undocumented: :func:`satchel.model.export_contract.complete` adds
        feature docs, the policy and golden vectors)."""
        if len(feature_names) != self.spec.input_dim:
            raise ShapeError(
                f"export: {len(feature_names)} feature names for a model with {self.spec.input_dim} inputs",
                hint="pass the dataset schema's names",
            )
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        out = self._write_export(
            directory,
            {
                "satchel.contract_version": export_contract.CONTRACT_VERSION,
                "satchel.spec_hash": self.spec.hash,
                "satchel.feature_schema_hash": feature_schema_hash,
                "satchel.feature_names": json.dumps(list(feature_names)),
                "satchel.manifest": export_contract.MANIFEST_FILE,
            },
        )
        artifacts = []
        for a in out.artifacts:
            data = (directory / a["file"]).read_bytes()
            artifacts.append({**a, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
        manifest = ExportManifest(
            self.backend,
            {a["role"]: a["file"] for a in out.artifacts},
            out.signatures,
            self.spec.to_json(),
            self.spec.hash,
            feature_schema_hash,
            tuple(feature_names),
            artifacts=tuple(artifacts),
            training=training_contract(self.spec),
            runtime=out.runtime,
            features=tuple(asdict(d) for d in export_contract.feature_docs(None, feature_names)),
        )
        export_contract.write(directory, manifest)
        return manifest


@dataclass(frozen=True)
class Export:
    """What a backend's ``_write_export`` wrote: ``artifacts`` (role, file, format, purpose,
    precision, optional signatures and note), ``signatures`` (tensors by signature) and
    ``runtime`` (versions and support notes)."""

    artifacts: tuple[dict[str, Any], ...]
    signatures: Mapping[str, Any]
    runtime: dict[str, str]


def artifact(
    role: str, file: str, fmt: str, purpose: str, precision: str = "float32", **extra: object
) -> dict[str, object]:
    """One entry of :attr:`Export.artifacts`."""
    return {"role": role, "file": file, "format": fmt, "purpose": purpose, "precision": precision, **extra}


def training_contract(spec: ModelSpec) -> dict[str, object]:
    """The manifest's ``training`` section: fixed batch, padding rule, loss and optimizer."""
    b, d, k = spec.batch_size, spec.input_dim, spec.label_dim
    f32 = "float32"
    return {
        "batch_size": b,
        "padding": export_contract.PADDING_RULE,
        "inputs": {
            "x": {"shape": [b, d], "dtype": f32},
            "y": {"shape": [b, k], "dtype": f32},
            "w": {"shape": [b], "dtype": f32},
        },
        "objective": "J = sum(w * l) / max(sum(w), 1e-12) + l2_to_reference * sum((p - reference)^2), "
        "l = the per-sample loss of the raw outputs (see loss)",
        "loss": spec.loss.to_json(),
        "l2_to_reference": spec.l2_to_reference,
        "optimizer": {
            **asdict(spec.optimizer),
            "state_format": optimizer_format(spec),
            "update": (
                "adam_mode=1, no weight decay: lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t), "
                "p -= lr_t * m / (sqrt(v) + eps)"
            )
            if spec.optimizer.kind == "adam"
            else "p -= lr * g",
        },
    }
