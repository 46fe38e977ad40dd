"""The fit loop both backends share: the epoch plan (shuffle, pad, mask), training epochs on fixed-size
batches with progress ticks, and the evaluation metrics."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from satchel.errors import BackendError
from satchel.model.backend import FitResult, ProgressCallback, TrainingProgress
from satchel.model.dataset import Dataset
from satchel.model.reference import WEIGHT_SUM_EPS
from satchel.model.spec import ModelSpec
from satchel_plugins.backends._input_checks import check_dataset


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
