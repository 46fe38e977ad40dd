"""The mobile contract of an exported model: ``manifest.json`` (versioned JSON Schema
:data:`MANIFEST_SCHEMA`, written beside it as ``manifest.schema.json``) and ``golden.json``.

The manifest says everything an Android/iOS app needs to use the artifacts without satchel: every
artifact with its format, precision, size and measured deviation; every signature's tensors; the
fixed training batch and its padding rule; the loss and optimizer; each feature's definition and
normalisation; the decision policy; the spec hash and runtime versions. ``golden.json`` holds test
vectors from *synthetic* sample events (never the learner's): events → features, features →
outputs of every inference artifact, and one training step on a golden batch → loss and weights.
``tests/mobile/harness.py`` reproduces them with the runtimes alone (see ``docs/mobile.md``).

Featurizers and tasks opt in with optional members, read with defaults:

- ``Featurizer.describe() -> Sequence[FeatureDoc]``: each feature's definition and normalisation;
- ``Featurizer.sample_events() -> SampleEvents``: synthetic events for the golden vectors;
- ``ModelTask.policy() -> Mapping[str, object]``: the decision policy as data (thresholds, actions).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from satchel.events import Event
    from satchel.model.backend import ExportManifest, Trainer

#: Version of the manifest layout (bumped on any incompatible change; the schema's ``$id``).
CONTRACT_VERSION = "satchel-export/2"
MANIFEST_FILE, SCHEMA_FILE, GOLDEN_FILE = "manifest.json", "manifest.schema.json", "golden.json"
#: Real rows in the golden training batch: fewer than any batch size >= 8, so the device must pad.
GOLDEN_TRAIN_ROWS = 5
PADDING_RULE = (
    "Every train call takes exactly batch_size rows. Pad a shorter batch to batch_size by "
    "repeating its real rows in order (x and y copied) with weight w = 0; weight-0 rows change "
    "neither the loss nor the gradient. Copy real rows rather than zeros: a custom loss may be "
    "non-finite on all-zero labels, and 0 * NaN is NaN."
)


@dataclass(frozen=True)
class FeatureDoc:
    """One feature column: how to compute it and how it is scaled (``constants``: the numbers used)."""

    name: str
    definition: str
    normalisation: str = "none"
    constants: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SampleEvents:
    """Synthetic events for golden vectors, featurized as of ``now`` (no learner's data)."""

    events: tuple[Event, ...]
    now: datetime


def _tensor() -> dict[str, object]:
    return {
        "type": "object",
        "required": ["shape", "dtype"],
        "properties": {"shape": {"type": "array", "items": {"type": "integer"}}, "dtype": {"type": "string"}},
    }


def _obj(required: list[str], **properties: object) -> dict[str, object]:
    return {"type": "object", "required": required, "properties": properties}


_STR, _INT, _NUM = {"type": "string"}, {"type": "integer"}, {"type": "number"}
_SIGNATURE = _obj(
    ["inputs", "outputs"],
    inputs={"type": "object", "additionalProperties": _tensor()},
    outputs={"type": "object", "additionalProperties": _tensor()},
    model=_STR,
)

#: JSON Schema (draft 2020-12) of ``manifest.json``.
MANIFEST_SCHEMA: dict[str, object] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": f"https://satchel.invalid/schemas/{CONTRACT_VERSION}/manifest.json",
    "title": "satchel model export manifest",
    **_obj(
        [
            "contract_version",
            "backend",
            "files",
            "artifacts",
            "signatures",
            "training",
            "spec",
            "spec_hash",
            "feature_schema_hash",
            "feature_names",
            "features",
            "runtime",
        ],
        contract_version={"const": CONTRACT_VERSION},
        backend={"enum": ["litert", "onnx"]},
        files={"type": "object", "additionalProperties": _STR, "description": "file name by role"},
        artifacts={
            "type": "array",
            "items": _obj(
                ["role", "file", "format", "purpose", "precision", "bytes", "sha256"],
                role=_STR,
                file=_STR,
                format={"enum": ["tflite", "onnx", "ort", "ort-checkpoint"]},
                purpose={"enum": ["train", "eval", "optimizer", "infer", "state"]},
                precision={"enum": ["float32", "float16", "int8"]},
                bytes=_INT,
                sha256=_STR,
                signatures={"type": "array", "items": _STR},
                golden_max_abs_error={
                    "type": "number",
                    "description": "max |output - float32 output| on golden rows",
                },
                note=_STR,
            ),
        },
        signatures={"type": "object", "additionalProperties": _SIGNATURE},
        training=_obj(
            ["batch_size", "padding", "loss", "optimizer", "inputs"],
            batch_size=_INT,
            padding=_STR,
            loss={"type": "object"},
            optimizer={"type": "object"},
            inputs={"type": "object", "additionalProperties": _tensor()},
            objective=_STR,
            l2_to_reference=_NUM,
        ),
        spec={"type": "object"},
        spec_hash={"type": "string", "pattern": "^[0-9a-f]{64}$"},
        feature_schema_hash=_STR,
        feature_schema_version=_STR,
        feature_names={"type": "array", "items": _STR},
        features={
            "type": "array",
            "items": _obj(
                ["name", "definition", "normalisation"],
                name=_STR,
                definition=_STR,
                normalisation=_STR,
                constants={"type": "object", "additionalProperties": _NUM},
            ),
        },
        decision_policy={"type": ["object", "null"]},
        runtime={"type": "object", "additionalProperties": _STR},
        golden={"type": ["string", "null"]},
    ),
}


# --------------------------------------------------------------------------- optional members


def feature_docs(featurizer: object, names: Sequence[str]) -> tuple[FeatureDoc, ...]:
    """The featurizer's :class:`FeatureDoc` per column (``describe()``), else names marked undocumented."""
    describe = getattr(featurizer, "describe", None)
    docs = {d.name: d for d in describe()} if callable(describe) else {}
    return tuple(docs.get(n, FeatureDoc(n, "undocumented: the featurizer has no describe()")) for n in names)


def task_policy(task: object) -> Mapping[str, object] | None:
    """The task's decision policy as data (``policy()``), or None."""
    policy = getattr(task, "policy", None)
    return dict(policy()) if callable(policy) else None


def sample_events(featurizer: object) -> SampleEvents | None:
    make = getattr(featurizer, "sample_events", None)
    return make() if callable(make) else None


# --------------------------------------------------------------------------- golden vectors


def padded(x: np.ndarray, y: np.ndarray, w: np.ndarray, batch_size: int) -> tuple[np.ndarray, ...]:
    """``(x, y, w)`` padded to ``batch_size`` rows by :data:`PADDING_RULE`."""
    n = len(x)
    idx = np.arange(batch_size) % n
    wp = np.where(np.arange(batch_size) < n, w[idx], 0.0)
    return x[idx].astype(np.float32), y[idx].astype(np.float32), wp.astype(np.float32)


def _lists(a: np.ndarray) -> object:
    return np.asarray(a, np.float64).tolist()


def _golden_train(trainer: Trainer, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> dict[str, object]:
    """One step on the padded golden batch, then the trainer's state restored exactly."""
    from satchel.model.dataset import Dataset, FeatureSchema

    before = trainer.get_weights()
    spec = trainer.spec
    xp, yp, wp = padded(x, y, w, spec.batch_size)
    batch = Dataset(xp, yp, wp, FeatureSchema(tuple(f"f{i}" for i in range(spec.input_dim))))
    try:
        loss = trainer.fit(batch, epochs=1, shuffle=False).epoch_losses[0]
        after = trainer.get_weights().params
    finally:
        trainer.set_weights(before)
    return {
        "x": _lists(x),
        "y": _lists(y),
        "w": _lists(w),
        "loss": float(loss),
        "params_after": {k: _lists(v) for k, v in after.items()},
        "params_before": {k: _lists(v) for k, v in before.params.items()},
        "loss_rtol": 1e-4,
        "params_atol": 1e-5,
    }


def _run_inference(path: Path, fmt: str, x: np.ndarray) -> np.ndarray:
    """Outputs of an inference artifact (``infer`` signature / ``output`` tensor) on rows ``x``."""
    if fmt == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter(model_path=str(path)).get_signature_runner("infer")(x=x)["output"]
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["output"], {"x": x})[0]


def _digest(path: Path) -> tuple[int, str]:
    data = path.read_bytes()
    return len(data), hashlib.sha256(data).hexdigest()


def complete(
    directory: Path, manifest: ExportManifest, trainer: Trainer, featurizer: object, task: object
) -> ExportManifest:
    """Add features, policy, golden vectors and artifact digests to a backend's export; rewrite
    ``manifest.json`` and write ``golden.json`` and ``manifest.schema.json``.

    Golden vectors need ``featurizer.sample_events()``; without it only sizes and digests are added.
    The trainer's weights and optimizer state are unchanged afterwards.
    """
    directory = Path(directory)
    sample = sample_events(featurizer)
    artifacts: list[dict[str, Any]] = [dict(a) for a in manifest.artifacts]
    golden: dict[str, Any] | None = None
    if sample is not None:
        rows = featurizer.rows(sample.events, now=sample.now)  # type: ignore[attr-defined]
        data = featurizer.training_data(sample.events, now=sample.now)  # type: ignore[attr-defined]
        n = min(GOLDEN_TRAIN_ROWS, len(data))
        x_rows = np.asarray(rows.x, np.float32).reshape(len(rows), -1)
        probe = np.concatenate([x_rows, data.x[:n]]).astype(np.float32)
        expected = trainer.predict(probe)
        golden = {
            "contract_version": CONTRACT_VERSION,
            "events": {
                "now": sample.now.isoformat(),
                "events": [e.model_dump(mode="json") for e in sample.events],
            },
            "features": {"keys": list(rows.keys), "x": _lists(x_rows), "atol": 1e-5},
            "infer": {
                "x": _lists(probe),
                "output": _lists(expected),
                "atol": 1e-5,
                "rtol": 1e-4,
                "artifacts": {},
            },
        }
        if n:
            golden["train"] = _golden_train(trainer, data.x[:n], data.y[:n], data.weights[:n])
        for a in artifacts:
            if a["purpose"] == "infer":
                out = _run_inference(directory / a["file"], a["format"], probe)
                error = float(np.abs(out.astype(np.float64) - expected).max())
                a["golden_max_abs_error"] = error
                golden["infer"]["artifacts"][a["role"]] = {
                    "output": _lists(out),
                    "atol": max(2 * error, 1e-5),
                }
        (directory / GOLDEN_FILE).write_text(json.dumps(golden), encoding="utf-8")
    for a in artifacts:
        a["bytes"], a["sha256"] = _digest(directory / a["file"])
    names = manifest.feature_names
    done = replace(
        manifest,
        artifacts=tuple(artifacts),
        features=tuple(asdict(d) for d in feature_docs(featurizer, names)),
        feature_schema_version=str(getattr(getattr(featurizer, "schema", None), "version", "")),
        decision_policy=task_policy(task),
        golden=GOLDEN_FILE if golden is not None else None,
    )
    write(directory, done)
    return done


def write(directory: Path, manifest: ExportManifest) -> None:
    """Write ``manifest.json`` and its schema (``manifest.schema.json``)."""
    body = asdict(manifest)
    body["features"] = [dict(f, constants=dict(f["constants"])) for f in body["features"]]
    (Path(directory) / MANIFEST_FILE).write_text(json.dumps(body, indent=2, sort_keys=True), encoding="utf-8")
    (Path(directory) / SCHEMA_FILE).write_text(json.dumps(MANIFEST_SCHEMA, indent=2), encoding="utf-8")
