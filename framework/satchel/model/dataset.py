"""Training data handed from a featurizer to a backend: features, labels, sample weights, schema."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from satchel.errors import ShapeError


@dataclass(frozen=True)
class FeatureSchema:
    """Names (and order) of the feature columns; checkpoints are bound to its :attr:`hash`."""

    names: tuple[str, ...]
    version: str = "1"

    @property
    def width(self) -> int:
        return len(self.names)

    @property
    def hash(self) -> str:
        blob = json.dumps({"names": list(self.names), "version": self.version}, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class Dataset:
    """``x`` (n, d) float32, ``y`` (n, k) float32, ``weights`` (n,) float32; arrays are read-only.

    ``times`` (n,) float64, when given, is the instant (epoch seconds) each sample's label became
    known — a habit-day once the next day has ended, a review when it happened. Evaluation replays
    and the held-out slice of safe training order samples by it; featurizers should fill it.
    """

    x: np.ndarray
    y: np.ndarray
    weights: np.ndarray
    schema: FeatureSchema
    times: np.ndarray | None = None

    def __post_init__(self) -> None:
        x = _as_f32_2d(self.x, "x")
        y = _as_f32_2d(self.y, "y")
        w = np.ascontiguousarray(self.weights, dtype=np.float32)
        if w.ndim != 1:
            raise ShapeError(f"Dataset.weights must be 1-D (n,), got shape {w.shape}")
        if not (x.shape[0] == y.shape[0] == w.shape[0]):
            raise ShapeError(
                f"Dataset rows disagree: x has {x.shape[0]}, y has {y.shape[0]}, weights has {w.shape[0]}"
            )
        if x.shape[1] != self.schema.width:
            raise ShapeError(f"Dataset.x has {x.shape[1]} columns but the schema names {self.schema.width}")
        t = None
        if self.times is not None:
            t = np.ascontiguousarray(self.times, dtype=np.float64)
            if t.shape != (x.shape[0],):
                raise ShapeError(f"Dataset.times must have shape ({x.shape[0]},), got {t.shape}")
            t.setflags(write=False)
        for arr in (x, y, w):
            arr.setflags(write=False)
        object.__setattr__(self, "times", t)
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "weights", w)

    @staticmethod
    def of(
        x: np.ndarray,
        y: np.ndarray,
        weights: np.ndarray | None = None,
        schema: FeatureSchema | None = None,
        times: np.ndarray | None = None,
    ) -> Dataset:
        """Build a dataset; 1-D ``y`` becomes one column, weights default to ones."""
        y_arr = np.asarray(y, np.float32)
        if y_arr.ndim == 1:
            y_arr = y_arr[:, None]
        x_arr = np.asarray(x)
        if schema is None:
            schema = FeatureSchema(tuple(f"x{i}" for i in range(x_arr.shape[1] if x_arr.ndim == 2 else 0)))
        w = np.ones(len(y_arr), np.float32) if weights is None else weights
        return Dataset(x_arr, y_arr, w, schema, times)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def take(self, index: np.ndarray | slice) -> Dataset:
        times = None if self.times is None else self.times[index]
        return Dataset(self.x[index], self.y[index], self.weights[index], self.schema, times)

    def known_by(self, t: float) -> np.ndarray:
        """Indices of the samples whose label was known at epoch second ``t`` (all when no times)."""
        if self.times is None:
            return np.arange(len(self))
        return np.flatnonzero(self.times <= t)


def _as_f32_2d(a: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype.kind not in "fiub":
        raise ShapeError(f"Dataset.{name} must be numeric, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ShapeError(f"Dataset.{name} must be 2-D (rows, columns), got shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise ShapeError(f"Dataset.{name} contains NaN or infinite values")
    return arr
