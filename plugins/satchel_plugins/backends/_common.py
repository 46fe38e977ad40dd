"""What both backends share: input checks, the epoch plan (shuffle, pad, mask), the fit loop,
metrics, weight/optimizer-state layout, the on-disk compile cache and export manifests.

Both backends implement Adam exactly as ONNX Runtime's ``AdamWOptimizer`` (``adam_mode=1``,
no weight decay): ``lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t)``, ``p -= lr_t * m / (sqrt(v) + eps)``.
Their optimizer state therefore shares one layout (:data:`ADAM_FORMAT`): ``m/<param>``,
``v/<param>`` and ``step`` (int64, steps taken), so a checkpoint moves between backends.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from satchel.errors import BackendError, ShapeError
from satchel.model.backend import (
    CompiledModel,
    ExportManifest,
    FitResult,
    ProgressCallback,
    TrainingProgress,
    Weights,
)
from satchel.model.dataset import Dataset
from satchel.model.reference import WEIGHT_SUM_EPS
from satchel.model.spec import ModelSpec, initial_params

#: Version of the artifact layout satchel writes; part of every backend version (cache key).
FORMAT_VERSION = "1"
ADAM_FORMAT = "satchel-adam/1"
SGD_FORMAT = "satchel-sgd/1"
_NUMERIC_KINDS = "fiub"

Arrays = dict[str, np.ndarray]


# --------------------------------------------------------------------------- spec and inputs


def check_spec(spec: ModelSpec, backend: str) -> None:
    """Refuse specs no backend can train (a custom loss that ignores the network's outputs)."""
    if spec.loss.kind == "custom" and spec.loss.expr is not None and spec.loss.expr.max_out() < 0:
        raise BackendError(
            f"{backend}: custom loss {spec.loss.name!r} does not use any Out(i)",
            hint="write the per-sample loss in terms of the network outputs Out(i)",
        )


def as_rows(x: object, width: int, where: str) -> np.ndarray:
    """``x`` as a C-contiguous float32 (n, width) array: one row (width,) or a batch (n, width)."""
    a = x if type(x) is np.ndarray else np.asarray(x)
    if a.dtype != np.float32:
        if a.dtype.kind not in _NUMERIC_KINDS:
            raise ShapeError(
                f"{where}: expected numeric input of shape ({width},) or (n, {width}), got dtype {a.dtype}",
                hint="pass a float32 NumPy array",
            )
        a = a.astype(np.float32)
    if a.ndim == 1:
        a = a.reshape(1, -1)
    if a.ndim != 2 or a.shape[1] != width or a.shape[0] == 0:
        raise ShapeError(
            f"{where}: expected shape ({width},) or (n, {width}) with n >= 1, got {a.shape}",
            hint=f"the model takes {width} features per row",
        )
    if not np.isfinite(a).all():
        raise ShapeError(
            f"{where}: input contains NaN or infinite values",
            hint="impute or drop non-finite features before predicting",
        )
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def check_dataset(spec: ModelSpec, data: Dataset, where: str) -> None:
    """The dataset's x and y widths must match the spec (``Dataset`` already checked finiteness)."""
    if not isinstance(data, Dataset):
        raise ShapeError(
            f"{where}: expected a satchel.model.dataset.Dataset, got {type(data).__name__}",
            hint="build one with Dataset.of(x, y, weights)",
        )
    if data.x.shape[1] != spec.input_dim:
        raise ShapeError(
            f"{where}: x has {data.x.shape[1]} columns, expected (n, {spec.input_dim})",
            hint="featurize with the schema the model was specified for",
        )
    if data.y.shape[1] != spec.label_dim:
        raise ShapeError(
            f"{where}: y has {data.y.shape[1]} columns, expected (n, {spec.label_dim})",
            hint=f"the {spec.loss.name} loss takes {spec.label_dim} label column(s)",
        )
    if len(data) == 0:
        raise ShapeError(f"{where}: the dataset is empty", hint="pass at least one row")


def check_params(spec: ModelSpec, params: Mapping[str, np.ndarray], where: str) -> Arrays:
    """Exactly the spec's parameters, with their shapes, as finite float32 copies."""
    shapes = spec.param_shapes
    missing, extra = sorted(set(shapes) - set(params)), sorted(set(params) - set(shapes))
    if missing or extra:
        raise ShapeError(
            f"{where}: parameter names differ from the spec (missing {missing}, unexpected {extra})",
            hint="pass the dict returned by get_weights().params or initial_params(spec)",
        )
    out: Arrays = {}
    for name, shape in shapes.items():
        a = np.asarray(params[name])
        if a.dtype.kind not in _NUMERIC_KINDS or a.shape != shape:
            raise ShapeError(
                f"{where}: {name} must be a float32 array of shape {shape}, got {a.dtype} {a.shape}",
                hint="was the weight saved for another spec?",
            )
        a = np.array(a, np.float32, order="C")
        if not np.isfinite(a).all():
            raise ShapeError(
                f"{where}: {name} contains NaN or infinite values", hint="restore an earlier checkpoint"
            )
        out[name] = a
    return out


# --------------------------------------------------------------------------- optimizer state


def optimizer_format(spec: ModelSpec) -> str:
    return ADAM_FORMAT if spec.optimizer.kind == "adam" else SGD_FORMAT


def zero_optimizer_state(spec: ModelSpec) -> Arrays:
    """A fresh optimizer: zero Adam moments and step 0 (SGD has no state)."""
    if spec.optimizer.kind != "adam":
        return {}
    state: Arrays = {}
    for name, shape in spec.param_shapes.items():
        state[f"m/{name}"] = np.zeros(shape, np.float32)
        state[f"v/{name}"] = np.zeros(shape, np.float32)
    state["step"] = np.zeros((), np.int64)
    return state


def check_optimizer_state(spec: ModelSpec, weights: Weights, where: str) -> Arrays:
    """The optimizer state to load: ``weights.optimizer`` checked, or a fresh one when it is empty."""
    fresh = zero_optimizer_state(spec)
    if not weights.optimizer:
        return fresh
    fmt = optimizer_format(spec)
    if weights.optimizer_format != fmt:
        raise BackendError(
            f"{where}: optimizer state is {weights.optimizer_format!r}, this trainer uses {fmt!r}",
            hint="pass Weights(params) without optimizer state to start a fresh optimizer",
        )
    if set(weights.optimizer) != set(fresh):
        raise ShapeError(
            f"{where}: optimizer state names differ from {fmt} "
            f"(missing {sorted(set(fresh) - set(weights.optimizer))}, "
            f"unexpected {sorted(set(weights.optimizer) - set(fresh))})",
            hint="pass the state returned by get_weights()",
        )
    out: Arrays = {}
    for name, zero in fresh.items():
        a = np.asarray(weights.optimizer[name])
        if a.shape != zero.shape or a.dtype.kind not in _NUMERIC_KINDS or not np.isfinite(a).all():
            raise ShapeError(
                f"{where}: optimizer state {name} must be finite with shape {zero.shape}, "
                f"got {a.dtype} {a.shape}",
                hint="pass the state returned by get_weights()",
            )
        out[name] = np.array(a, zero.dtype, order="C")
    if out.get("step", 0) < 0:
        raise ShapeError(
            f"{where}: optimizer step must be >= 0", hint="pass the state returned by get_weights()"
        )
    return out


# --------------------------------------------------------------------------- training loop


class EpochPlan:
    """Per-epoch batches of exactly ``batch_size`` rows: shuffled (seeded), the last batch padded
    with rows taken from the epoch's start and masked by zero sample weight. Padding repeats real
    rows (not zeros), so a loss such as ``log(Out(0))`` stays finite on the masked rows."""

    def __init__(self, data: Dataset, batch_size: int, shuffle: bool, seed: int) -> None:
        n = len(data)
        self.batches = -(-n // batch_size)
        self._data, self._n, self._size = data, n, self.batches * batch_size
        self._rng = np.random.default_rng(seed) if shuffle else None
        self._fixed = None if shuffle else self._gather(np.arange(n))

    def _gather(self, order: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n, size = self._n, self._size
        if size - n <= n:
            idx = np.concatenate((order, order[: size - n]))
        else:  # fewer rows than one batch: repeat them
            idx = np.tile(order, -(-size // n))[:size]
        w = self._data.weights.take(idx)
        w[n:] = 0.0
        return self._data.x.take(idx, axis=0), self._data.y.take(idx, axis=0), w

    def epoch(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``x`` (batches*B, d), ``y`` (batches*B, k), ``w`` (batches*B,) for the next epoch."""
        if self._rng is None:
            assert self._fixed is not None
            return self._fixed
        return self._gather(self._rng.permutation(self._n))


StepFn = Callable[[np.ndarray, np.ndarray, np.ndarray], object]


def run_fit(
    spec: ModelSpec,
    step: StepFn,
    data: Dataset,
    epochs: int,
    shuffle: bool,
    seed: int,
    progress: ProgressCallback | None,
) -> FitResult:
    """Train ``epochs`` passes over ``data`` with ``step(x, y, w) -> loss`` on fixed-size batches.

    ``progress`` (if given) is called after every batch (``batch`` = 1..batches, that batch's loss)
    and once more at the end of each epoch (``batch == batches``, the epoch's mean loss).
    """
    check_dataset(spec, data, "fit")
    if epochs < 0:
        raise BackendError(f"fit: epochs must be >= 0, got {epochs}", hint="pass epochs=1 or more")
    bsz = spec.batch_size
    plan = EpochPlan(data, bsz, shuffle, seed)
    nb = plan.batches
    epoch_losses: list[float] = []
    for epoch in range(1, epochs + 1):
        x, y, w = plan.epoch()
        batches = zip(x.reshape(nb, bsz, -1), y.reshape(nb, bsz, -1), w.reshape(nb, bsz))
        if progress is None:
            raw = [step(xb, yb, wb) for xb, yb, wb in batches]
        else:
            raw = []
            for b, (xb, yb, wb) in enumerate(batches, 1):
                raw.append(step(xb, yb, wb))
                progress(TrainingProgress(epoch, epochs, b, nb, float(raw[-1])))  # type: ignore[arg-type]
        losses = np.array(raw, np.float64)
        wsum = w.reshape(nb, bsz).sum(axis=1, dtype=np.float64)
        total = wsum.sum()
        mean = float((losses * wsum).sum() / total) if total > 0 else float(losses.mean())
        if not np.isfinite(mean):
            raise BackendError(
                f"fit: the loss became non-finite in epoch {epoch}",
                hint="lower the learning rate or check the custom loss (log of <= 0?)",
            )
        epoch_losses.append(mean)
        if progress is not None:
            progress(TrainingProgress(epoch, epochs, nb, nb, mean))
    return FitResult(tuple(epoch_losses), nb * epochs, len(data) * epochs)


def metrics(spec: ModelSpec, per_sample: np.ndarray, pred: np.ndarray, data: Dataset) -> dict[str, float]:
    """Weighted mean data loss (no L2 term) and, for bce/softmax losses, weighted accuracy."""
    w = data.weights.astype(np.float64)
    wsum = max(float(w.sum()), WEIGHT_SUM_EPS)
    out = {"loss": float((w * per_sample).sum() / wsum)}
    if spec.loss.kind == "bce_logits":
        hit = ((pred > 0.5) == (data.y > 0.5)).mean(axis=1)
        out["accuracy"] = float((w * hit).sum() / wsum)
    elif spec.loss.kind == "softmax_ce":
        hit = pred.argmax(axis=1) == data.y.argmax(axis=1)
        out["accuracy"] = float((w * hit).sum() / wsum)
    return out


# --------------------------------------------------------------------------- trainer base


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
        from satchel.model import export_contract

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
    from satchel.model.export_contract import PADDING_RULE

    b, d, k = spec.batch_size, spec.input_dim, spec.label_dim
    f32 = "float32"
    return {
        "batch_size": b,
        "padding": PADDING_RULE,
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


# --------------------------------------------------------------------------- compile cache


def dist_version(*names: str) -> str:
    """Installed version of the first distribution found among ``names`` (``"none"`` if absent)."""
    from importlib.metadata import PackageNotFoundError, version

    for name in names:
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return "none"


def check_compiled(compiled: CompiledModel, backend: str, version: str) -> None:
    if compiled.backend != backend or compiled.backend_version != version:
        raise BackendError(
            f"{backend}.open: artifacts were compiled by {compiled.backend} "
            f"{compiled.backend_version}, this is {backend} {version}",
            hint=f"compile the spec again with the {backend} backend",
        )


def compile_cached(
    spec: ModelSpec,
    cache_dir: Path,
    backend: str,
    version: str,
    build: Callable[[ModelSpec, Path], dict[str, str]],
) -> CompiledModel:
    """Return the cached artifacts of (spec hash, backend version), building them once.

    ``build(spec, directory)`` writes into a fresh temporary directory and returns the files by
    role; the directory is then renamed into place atomically, so readers (other processes
    included) see complete artifacts or none, and a lost race simply reuses the winner's.
    """
    check_spec(spec, backend)
    key = hashlib.sha256(f"{spec.hash}|{backend}|{version}".encode()).hexdigest()[:32]
    root = Path(cache_dir) / backend
    final = root / key
    if not (final / "compiled.json").is_file():
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=root))
        try:
            try:
                files = build(spec, tmp)
            except BackendError:
                raise
            except Exception as exc:
                raise BackendError(
                    f"{backend}: compiling spec {spec.hash[:12]} failed: {exc}",
                    hint="report the spec and this error to the backend's maintainers",
                ) from exc
            meta = {
                "backend": backend,
                "backend_version": version,
                "spec_hash": spec.hash,
                "spec": spec.to_json(),
                "files": files,
            }
            (tmp / "compiled.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
            try:
                os.rename(tmp, final)
            except OSError:
                if not (final / "compiled.json").is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    meta = json.loads((final / "compiled.json").read_text())
    return CompiledModel(spec, backend, version, final, dict(meta["files"]))
