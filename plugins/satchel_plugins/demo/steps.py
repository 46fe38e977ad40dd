"""The steps every demo app takes, each printing its outcome: a consent grant (or its refusal), stored
events, and training each learner's model with a progress bar."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from satchel.errors import ConsentError
from satchel_plugins.demo.apps import NOTICES, POLICY
from satchel_plugins.demo.rendering import REFUSED, print_cells, say

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from satchel.app import App
    from satchel.model.backend import TrainingProgress


def grant(
    console: Console,
    app: App,
    who: str,
    purpose: str,
    *,
    actor: str = "self",
    age_band: str = "18+",
    method: str = "in_app_checkbox",
) -> None:
    """Record a consent and print the outcome; a refusal is printed, not raised."""
    label = f"{age_band}, {actor}" + (f", {method.replace('_', ' ')}" if actor != "self" else "")
    try:
        app.consent.grant(
            who,
            purposes=[purpose],
            notice=NOTICES[purpose],
            policy_version=POLICY,
            actor=actor,  # type: ignore[arg-type]
            age_band=age_band,
            method=method,
        )
    except ConsentError as e:
        say(console, REFUSED, who, f"consent by {label}: {e.message}")
        return
    say(console, "[green]✓ consent", who, label)


def say_stored(console: Console, app: App, who: str, stored: int, how: str) -> None:
    """Print how many of ``who``'s events were sealed, and the pseudonym they are stored under."""
    pseudonym = app.pseudonym(who)[:10]
    say(console, "[blue]● sealed", who, f"{stored} events {how}, as pseudonym {pseudonym}…")


def train_learners(console: Console, app: App, pipeline: str, who: Sequence[str], metric: str) -> None:
    """Train each learner's model with a progress bar that ends with the run's summary."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    print_cells(
        console,
        (
            "Training each learner's own model here with LiteRT; the first run converts the model "
            "to a .tflite file, cached under the data dir.",
        ),
        (),
    )
    with Progress(
        TextColumn("  {task.description:<10}"),
        BarColumn(bar_width=16),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        for w in who:
            _train(progress, app, w, pipeline, metric)


def _train(progress: Progress, app: App, who: str, pipeline: str, metric: str) -> None:
    """Train ``who``'s model, its progress bar ending with the held-out metric and the outcome."""
    task = progress.add_task(who, total=None, status="compiling & training…")

    def tick(p: TrainingProgress) -> None:
        progress.update(
            task,
            total=p.epochs * p.batches,
            completed=(p.epoch - 1) * p.batches + p.batch,
            status=f"epoch {p.epoch}/{p.epochs}, loss {p.loss:.3f}",
        )

    report = app.train(who, pipeline, progress=tick)
    held_out = report.metrics.get(f"holdout_{metric}", float("nan"))
    served = "model" if report.promoted else "kept what served"
    progress.update(
        task,
        status=f"✓ {report.context.samples} samples, held-out {metric} {held_out:.2f}, "
        f"{served}, v{report.checkpoint_version} sealed",
    )
