"""The contract every training backend implements (LiteRT, ONNX Runtime training, third parties).

A backend compiles a :class:`~satchel.model.spec.ModelSpec` into on-disk artifacts (cached by spec
hash and backend version) and opens a :class:`Trainer` on them. Trainers exchange weights as named
NumPy arrays, so checkpoints, federation and parity tests never depend on a runtime's format.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from satchel.model.dataset import Dataset
from satchel.model.spec import ModelSpec


@dataclass(frozen=True)
class Weights:
    """Model parameters and (backend-specific) optimizer state, as named arrays.

    ``params`` use the names of :attr:`ModelSpec.param_shapes`. ``optimizer`` may be empty;
    ``optimizer_format`` names its layout (e.g. ``"litert-adam/1"``) so a trainer can refuse
    state it does not understand instead of misreading it.
    """

    params: Mapping[str, np.ndarray]
    optimizer: Mapping[str, np.ndarray] = field(default_factory=dict)
    optimizer_format: str = ""


@dataclass(frozen=True)
class TrainingProgress:
    """One progress tick: emitted after every batch and at the end of every epoch."""

    epoch: int
    epochs: int
    batch: int
    batches: int
    loss: float
    pipeline: str = ""
    subject: str = ""


ProgressCallback = Callable[[TrainingProgress], None]


@dataclass(frozen=True)
class FitResult:
    """What :meth:`Trainer.fit` reports: mean weighted loss per epoch, steps, samples seen."""

    epoch_losses: tuple[float, ...]
    steps: int
    samples: int

    @property
    def final_loss(self) -> float:
        return self.epoch_losses[-1] if self.epoch_losses else float("nan")


@dataclass(frozen=True)
class CompiledModel:
    """Artifacts of one spec on one backend; ``directory`` holds the files, ``files`` names them."""

    spec: ModelSpec
    backend: str
    backend_version: str
    directory: Path
    files: Mapping[str, str]


@dataclass(frozen=True)
class ExportManifest:
    """What a mobile app needs to use an exported model (written as ``manifest.json``; the layout
    is :data:`satchel.model.export_contract.MANIFEST_SCHEMA`, documented in ``docs/mobile.md``).

    ``files`` maps roles to file names; ``artifacts`` describes each file (format, purpose,
    precision, size, SHA-256, measured deviation); ``training`` the fixed batch, padding rule, loss
    and optimizer; ``features`` each column's definition; ``golden`` names the test-vector file.
    """

    backend: str
    files: Mapping[str, str]
    signatures: Mapping[str, object]
    spec: Mapping[str, object]
    spec_hash: str
    feature_schema_hash: str
    feature_names: tuple[str, ...]
    contract_version: str = "satchel-export/2"
    artifacts: tuple[Mapping[str, object], ...] = ()
    training: Mapping[str, object] = field(default_factory=dict)
    runtime: Mapping[str, str] = field(default_factory=dict)
    features: tuple[Mapping[str, object], ...] = ()
    feature_schema_version: str = ""
    decision_policy: Mapping[str, object] | None = None
    golden: str | None = None


@runtime_checkable
class Trainer(Protocol):
    """A live runtime session for one compiled model."""

    spec: ModelSpec

    def fit(
        self,
        data: Dataset,
        epochs: int = 1,
        *,
        shuffle: bool = True,
        seed: int = 0,
        progress: ProgressCallback | None = None,
    ) -> FitResult: ...

    def evaluate(self, data: Dataset) -> dict[str, float]: ...

    def predict(self, x: np.ndarray) -> np.ndarray: ...

    def get_weights(self) -> Weights: ...

    def set_weights(self, weights: Weights) -> None: ...

    def set_reference(self, params: Mapping[str, np.ndarray]) -> None: ...

    def export(
        self, directory: Path, *, feature_names: tuple[str, ...], feature_schema_hash: str
    ) -> ExportManifest: ...


@runtime_checkable
class TrainerBackend(Protocol):
    """A backend plugin's component: compiles specs and opens trainers."""

    name: str
    version: str

    def compile(self, spec: ModelSpec, cache_dir: Path) -> CompiledModel: ...

    def open(self, compiled: CompiledModel, weights: Weights | None = None) -> Trainer: ...


#: Opens a trainer for a spec, optionally from given parameters (what evaluation helpers are handed).
OpenTrainer = Callable[[ModelSpec, "Mapping[str, np.ndarray] | None"], Trainer]
