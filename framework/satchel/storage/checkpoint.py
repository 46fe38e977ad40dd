"""Checkpoints: weights, optimizer state and the facts that bind them to a pipeline."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from satchel.errors import IntegrityError
from satchel.model.backend import Weights

_FORMAT = "satchel-checkpoint/1"


@dataclass(frozen=True)
class Checkpoint:
    """One training run's outcome for one subject's pipeline.

    ``served`` says what answers ``predict`` after this run: ``"model"`` (these weights) or
    ``"prior"`` (the task's fallback, because no candidate has beaten it yet). ``samples`` counts
    the training samples the run saw (the scheduler counts new ones from it); ``data_until`` is the
    label time (epoch seconds) of the newest sample the served weights were trained on, so the
    next run validates on samples they never saw. ``metrics`` are held-out metrics.
    """

    weights: Weights
    spec_hash: str
    schema_hash: str
    backend: str
    created_at: datetime
    metrics: Mapping[str, float] = field(default_factory=dict)
    samples: int = 0
    version: int = 0
    served: Literal["model", "prior"] = "model"
    data_until: float | None = None

    def weights_for(self, backend: str) -> Weights:
        """The weights to resume on ``backend``: optimizer state only if it was written by it."""
        return self.weights if backend == self.backend else Weights(self.weights.params)

    def to_bytes(self) -> bytes:
        arrays = {f"p/{k}": v for k, v in self.weights.params.items()}
        arrays.update({f"o/{k}": v for k, v in self.weights.optimizer.items()})
        meta = {
            "format": _FORMAT,
            "spec_hash": self.spec_hash,
            "schema_hash": self.schema_hash,
            "backend": self.backend,
            "created_at": self.created_at.isoformat(),
            "metrics": dict(self.metrics),
            "samples": self.samples,
            "optimizer_format": self.weights.optimizer_format,
            "served": self.served,
            "data_until": self.data_until,
        }
        buf = io.BytesIO()
        np.savez(buf, __meta__=np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays)  # type: ignore[arg-type]  # numpy stubs: **arrays could name allow_pickle
        return buf.getvalue()

    @staticmethod
    def from_bytes(raw: bytes, version: int) -> Checkpoint:
        try:
            with np.load(io.BytesIO(raw), allow_pickle=False) as z:
                meta = json.loads(z["__meta__"].tobytes())
                params = {k[2:]: z[k] for k in z.files if k.startswith("p/")}
                opt = {k[2:]: z[k] for k in z.files if k.startswith("o/")}
        except (ValueError, KeyError, OSError) as e:
            raise IntegrityError(f"checkpoint v{version} is not readable: {e}") from None
        if meta.get("format") != _FORMAT:
            raise IntegrityError(f"checkpoint v{version} has unknown format {meta.get('format')!r}")
        return Checkpoint(
            Weights(params, opt, meta["optimizer_format"]),
            meta["spec_hash"],
            meta["schema_hash"],
            meta["backend"],
            datetime.fromisoformat(meta["created_at"]),
            meta["metrics"],
            meta["samples"],
            version,
            meta.get("served", "model"),
            meta.get("data_until"),
        )


@runtime_checkable
class CheckpointStore(Protocol):
    """A checkpoint store plugin's component. ``files`` is the core's sealed-file handle."""

    def save(self, files: object, checkpoint: Checkpoint) -> int: ...

    def load(self, files: object, version: int | None = None) -> Checkpoint | None: ...

    def versions(self, files: object) -> list[int]: ...

    def delete_all(self, files: object) -> None: ...
