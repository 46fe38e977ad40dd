"""Text tables and calibration plots of a :class:`~satchel.evaluation.replay.Replay`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from satchel.errors import SatchelError

if TYPE_CHECKING:
    from satchel.evaluation.replay import PipelineReplay, Replay


def replay_table(result: Replay) -> str:
    """Every pipeline's predictors × metrics on the same items, then its learning curve."""
    lines = [
        f"replay of {result.export}: {result.events} events ({result.ignored_events} not read by these "
        f"pipelines), {result.start:%Y-%m-%d} to {result.end:%Y-%m-%d}, {result.steps} steps"
    ]
    for p in result.pipelines:
        best, value = p.best_baseline()
        ours = p.metrics["satchel"][p.objective]
        verdict = "better than" if ours < value else "not better than"
        lines += [
            "",
            f"pipeline {p.pipeline}: {p.n} items predicted before they were seen, {p.subjects} "
            f"learner(s); {p.trainings} trainings, {p.promoted} promoted, {p.failed} failed; "
            f"a personal model served {p.served_model:.0%} of predictions",
            f"satchel {p.objective} {ours:.4f} is {verdict} the best baseline ({best} {value:.4f})",
            "",
        ]
        lines += _grid(p.metrics)
        if p.within_subject:
            lines += ["", "per learner (mean weighted by items):"] + _grid(p.within_subject)
        for c in p.curve:
            span = f"{c.lo}+" if c.hi is None else f"{c.lo}-{c.hi - 1}"
            lines += ["", f"with {span} labelled samples known ({c.n} items):"] + _grid(c.metrics)
    return "\n".join(lines)


def _grid(metrics: Mapping[str, Mapping[str, float]]) -> list[str]:
    names = list(next(iter(metrics.values())))
    width = max(len(k) for k in metrics) + 2
    head = "predictor".ljust(width) + "".join(f"{m:>12}" for m in names)
    rows = [k.ljust(width) + "".join(f"{_num(v[m]):>12}" for m in names) for k, v in metrics.items()]
    return [head, *rows]


def _num(v: float) -> str:
    return "-" if not math.isfinite(v) else f"{v:.4f}"


def calibration_plot(result: Replay, path: Path, bins: int = 10) -> Path:
    """Reliability diagrams (predicted vs observed rate per probability bin), one panel per pipeline."""
    panels = [p for p in result.pipelines if p.calibration]
    if not panels:
        raise SatchelError("no pipeline of this replay predicts probabilities: nothing to plot")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SatchelError(
            "the calibration plot needs matplotlib", hint="python -m pip install matplotlib"
        ) from None
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.5), squeeze=False)
    for ax, p in zip(axes[0], panels):
        _panel(ax, p, bins)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _panel(ax: Any, p: PipelineReplay, bins: int) -> None:
    ax.plot([0, 1], [0, 1], color="0.7", lw=1, ls="--")
    for name, (prob, y) in p.calibration.items():
        centers, observed = reliability(prob, y, bins)
        ax.plot(centers, observed, marker="o", ms=3, label=name)
    ax.set(
        title=f"{p.pipeline} ({p.n} items)",
        xlabel="predicted probability",
        ylabel="observed rate",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(fontsize=8)


def reliability(prob: np.ndarray, y: np.ndarray, bins: int = 10) -> tuple[Sequence[float], Sequence[float]]:
    """Mean prediction and observed rate of each non-empty equal-width probability bin."""
    which = np.minimum((np.asarray(prob) * bins).astype(int), bins - 1)
    centers, observed = [], []
    for b in range(bins):
        mask = which == b
        if mask.any():
            centers.append(float(prob[mask].mean()))
            observed.append(float(y[mask].mean()))
    return centers, observed
