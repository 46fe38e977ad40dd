"""Input checks both backends share: trainable specs, prediction rows, datasets and parameters."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from satchel.errors import BackendError, ShapeError
from satchel.model.dataset import Dataset
from satchel.model.spec import ModelSpec

#: dtype kinds accepted as numbers: float, int, unsigned, bool
NUMERIC_KINDS = "fiub"

Arrays = dict[str, np.ndarray]


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
        if a.dtype.kind not in NUMERIC_KINDS:
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
        if a.dtype.kind not in NUMERIC_KINDS or a.shape != shape:
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
