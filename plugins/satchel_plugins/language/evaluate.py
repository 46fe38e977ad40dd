"""Evaluation of the language pipeline as a device runs it, shared by the quality tests and benchmarks.

:func:`device_replay` replays a review log through :func:`satchel.evaluation.replay`: reviews arrive
day by day in a temporary encrypted app, the pipeline's scheduler decides when to train, safe
training decides what serves, and every review a day or more after the previous one of its item
is predicted by what serves (and by the task's baselines, fitted on earlier reviews only) before
it is recorded. :func:`fsrs6_package_stabilities` runs the ``fsrs`` package (a test and benchmark
peer) over a log, to check the plugin's own FSRS-6 recurrences against it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timezone
from pathlib import Path
from typing import Any

import numpy as np

from satchel.evaluation.replay import PipelineReplay
from satchel.events import Event
from satchel_plugins.language.events import WORD_REVIEWED

PIPELINE = "vocabulary"


def replay_config(
    *,
    backend: str = "litert",
    epochs: int = 20,
    warm_start: bool = False,
    min_interval: str = "7d",
    task: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An app config with one ``language`` pipeline that trains when it has new reviews, at most
    every ``min_interval``, and keeps every event (memory states need the whole history)."""
    return {
        "app": {"id": "language-replay", "name": "language replay", "data_dir": "data", "key_dir": "keys"},
        "privacy": {"key_provider": "env", "retention_days": 0},
        "pipelines": {
            PIPELINE: {
                "model": {"name": "language", "options": task or {}},
                "purposes": ["vocabulary_scheduling"],
                "backend": backend,
                "epochs": epochs,
                "warm_start": warm_start,
                "scheduler": {"name": "conditions", "options": {"min_interval": min_interval}},
            }
        },
    }


def device_replay(
    export: Path,
    *,
    source: str = "anki_revlog_csv",
    backend: str = "litert",
    epochs: int = 20,
    warm_start: bool = False,
    min_interval: str = "7d",
    task: dict[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PipelineReplay:
    """The replay of the language pipeline on ``export`` (see :func:`replay_config` for the settings)."""
    from satchel.evaluation.replay import replay
    from satchel.testing import isolated_registry

    config = replay_config(
        backend=backend, epochs=epochs, warm_start=warm_start, min_interval=min_interval, task=task
    )
    return replay(
        config, export, source=source, pipelines=[PIPELINE], registry=isolated_registry(), progress=progress
    ).pipeline(PIPELINE)


def fsrs6_package_stabilities(events: Sequence[Event]) -> dict[str, tuple[float, float]]:
    """Per review event id: (stability, difficulty) after it, from ``fsrs.Scheduler`` with default
    parameters replaying each item's ratings in time order."""
    from fsrs import Card, Rating, Scheduler

    scheduler = Scheduler(enable_fuzzing=False)
    cards: dict[str, Card] = {}
    out = {}
    for e in sorted((e for e in events if e.type == WORD_REVIEWED), key=lambda e: e.time):
        item = str(e.data["item"])
        rating = e.data.get("rating") or (3 if e.data.get("recalled") else 1)
        card = cards.get(item) or Card(card_id=len(cards) + 1)
        card, _ = scheduler.review_card(
            card, Rating(int(rating)), review_datetime=e.time.astimezone(timezone.utc)
        )
        cards[item] = card
        out[e.id] = (float(card.stability), float(card.difficulty))  # type: ignore[arg-type]
    return out


def scores_row(metrics: dict[str, float]) -> tuple[float, float, float]:
    """(log loss, AUC, RMSE(bins)) of one predictor's replay metrics."""
    return float(metrics["log_loss"]), float(metrics["auc"]), float(np.float64(metrics["rmse_bins"]))


def oldest_days(path: Path, days: int, into: Path) -> Path:
    """A copy of an Anki revlog CSV (header, ``id`` in ms first) cut to its first ``days`` days."""
    lines = path.read_text(encoding="utf-8").splitlines()
    first = int(lines[1].split(",")[0])
    cut = into / "oldest.csv"
    cut.write_text(
        "\n".join([lines[0], *(r for r in lines[1:] if int(r.split(",")[0]) < first + days * 86_400_000)])
        + "\n",
        encoding="utf-8",
    )
    return cut
