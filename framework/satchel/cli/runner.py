"""``satchel tick``, ``satchel run`` and ``satchel status``: the background training runner's commands.

Listed in the ``satchel`` group's table of built-in commands. The runner itself is imported inside
the commands, so ``satchel --help`` stays fast.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from satchel.cli import CONFIG_OPTION, JSON_OPTION, _open_app

if TYPE_CHECKING:
    from rich.progress import TaskID

    from satchel.model.backend import TrainingProgress
    from satchel.training.runner import ModelStatus, PassSummary, ProgressObserver

EXIT_CODES = """

\b
Exit codes:
  0    every due model trained, or nothing was due
  1    error (configuration, keys, plugins)
  2    usage error (a bad option)
  3    some learners failed; the others were trained
  130  interrupted by SIGTERM/SIGINT: the training in progress was
       abandoned (no partial checkpoint), the pass ended; a second
       signal exits at once
"""


class Duration(click.ParamType):
    """Seconds, written ``90``, ``90s``, ``15m``, ``6h`` or ``1d``."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        from satchel.durations import parse_duration

        try:
            return parse_duration(value)
        except ValueError as e:
            self.fail(str(e), param, ctx)


class Shard(click.ParamType):
    """``K/N``: the K-th (from 1) of N disjoint shares of the learners."""

    name = "shard"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[int, int]:
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(value))
        if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
            self.fail(f"{value!r} is not a shard; write K/N with 1 <= K <= N, e.g. 1/2", param, ctx)
        return int(m.group(1)) - 1, int(m.group(2))


PIPELINE_OPTION = click.option(
    "-p",
    "--pipeline",
    "pipelines",
    multiple=True,
    help="only this pipeline (repeat for several; default: all)",
)
EPOCHS_OPTION = click.option("--epochs", type=click.IntRange(min=1), help="default: each pipeline's epochs")
BUDGET_OPTION = click.option(
    "--budget",
    type=Duration(),
    help="time budget of a whole pass, e.g. 10m (each training also keeps its scheduler's)",
)
SHARD_OPTION = click.option(
    "--shard",
    type=Shard(),
    help="only the K-th of N shares of the learners, e.g. 1/2: run one runner per core, each with its shard",
)
VERBOSE_OPTION = click.option(
    "-v", "--verbose", is_flag=True, help="log every pass and training (logger satchel.training.runner)"
)


@click.command(epilog=EXIT_CODES)
@PIPELINE_OPTION
@EPOCHS_OPTION
@BUDGET_OPTION
@SHARD_OPTION
@JSON_OPTION
@VERBOSE_OPTION
@CONFIG_OPTION
@click.pass_context
def tick(
    ctx: click.Context,
    pipelines: tuple[str, ...],
    epochs: int | None,
    budget: float | None,
    shard: tuple[int, int] | None,
    as_json: bool,
    verbose: bool,
    config_path: Path,
) -> None:
    """One pass: train every learner's pipeline that is due now (for cron, systemd timers, app tasks)."""
    summaries = _passes(
        ctx, config_path, pipelines, epochs, budget, shard, verbose, as_json, interval=None, limit=1
    )
    ctx.exit(summaries[0].exit_code if summaries else 130)  # none: stopped before the pass began


@click.command(epilog=EXIT_CODES)
@click.option("--interval", type=Duration(), default="15m", show_default=True, help="time between passes")
@click.option(
    "--passes",
    "limit",
    type=click.IntRange(min=1),
    help="stop after this many passes (default: run until stopped)",
)
@PIPELINE_OPTION
@EPOCHS_OPTION
@BUDGET_OPTION
@SHARD_OPTION
@JSON_OPTION
@VERBOSE_OPTION
@CONFIG_OPTION
@click.pass_context
def run(
    ctx: click.Context,
    interval: float,
    limit: int | None,
    pipelines: tuple[str, ...],
    epochs: int | None,
    budget: float | None,
    shard: tuple[int, int] | None,
    as_json: bool,
    verbose: bool,
    config_path: Path,
) -> None:
    """Run a pass every --interval until SIGTERM/SIGINT. A signal between passes exits 0; during a pass,
    130. Otherwise exits 3 if any pass had failed learners."""
    summaries = _passes(
        ctx, config_path, pipelines, epochs, budget, shard, verbose, as_json, interval=interval, limit=limit
    )
    ctx.exit(max((s.exit_code for s in summaries), default=0))  # only the last pass can be interrupted (130)


@click.command()
@PIPELINE_OPTION
@JSON_OPTION
@CONFIG_OPTION
@click.pass_context
def status(ctx: click.Context, pipelines: tuple[str, ...], as_json: bool, config_path: Path) -> None:
    """Per learner (pseudonym) and pipeline: last trained, samples since, next eligible time, and why
    it is not training now (scheduler, consent, lock)."""
    from satchel.training.runner import Runner

    with _open_app(ctx, config_path) as app:
        rows = Runner(app, pipelines=pipelines or None).status()
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in rows], indent=2))
        return
    if not rows:
        click.echo("no learners enrolled")
    for r in rows:
        trained = (
            "—"
            if r.samples is None
            else "never trained"
            if r.last_trained_at is None
            else f"v{r.version} trained {_when(r.last_trained_at)}"
        )
        samples = "" if r.samples is None else f"  {r.new_samples} new of {r.samples} samples"
        after = f"not before {_when(r.next_eligible_at)}" if r.next_eligible_at else "not now"
        when = "due now" if r.due else f"{after}: {r.reason}"
        click.echo(f"{r.subject[:12]}  {r.pipeline}  {trained}{samples}  {when}")


def _passes(
    ctx: click.Context,
    config_path: Path,
    pipelines: tuple[str, ...],
    epochs: int | None,
    budget: float | None,
    shard: tuple[int, int] | None,
    verbose: bool,
    as_json: bool,
    *,
    interval: float | None,
    limit: int | None,
) -> list[PassSummary]:
    from satchel.training.runner import Runner, handle_signals

    if verbose:
        logging.getLogger("satchel.training.runner").setLevel(logging.INFO)
    stop = threading.Event()
    done: list[PassSummary] = []
    with handle_signals(stop), _open_app(ctx, config_path) as app, _progress_bars() as observer:
        runner = Runner(
            app,
            pipelines=pipelines or None,
            epochs=epochs,
            pass_budget_s=budget,
            progress=observer,
            stop=stop,
            shard=shard,
        )
        for summary in runner.passes(interval or 0.0, limit=limit):
            done.append(summary)
            _report(summary, as_json)
    return done


def _report(summary: PassSummary, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(summary.to_dict()))
        return
    click.echo(summary.line())
    for t in summary.trained:
        click.echo(
            f"  trained  {t.subject[:12]}  {t.pipeline}  v{t.version} ({t.samples} samples, {t.seconds:.1f}s)"
        )
    for f in summary.failed:
        click.echo(f"  failed   {f.subject[:12]}  {f.pipeline}  {f.error}: {f.message}")
    for s in summary.skipped:
        click.echo(f"  skipped  {s.subject[:12]}  {s.pipeline}  {'; '.join(s.reasons)}")


def _progress_bars() -> AbstractContextManager[ProgressObserver | None]:
    """Rich progress bars on stderr when it is a terminal; nothing otherwise."""
    if not sys.stderr.isatty():
        return nullcontext(None)
    return _RichBars()


class _RichBars:
    """One bar per model trained, fed by the runner's progress observer."""

    def __enter__(self) -> ProgressObserver:
        from rich.console import Console
        from rich.progress import Progress

        self._progress = Progress(console=Console(stderr=True))
        self._progress.start()
        self._tasks: dict[tuple[str, str], TaskID] = {}
        return self.update

    def update(self, model: ModelStatus, tick: TrainingProgress) -> None:
        key = (model.subject, model.pipeline)
        if key not in self._tasks:
            self._tasks[key] = self._progress.add_task(f"{model.subject[:12]} {model.pipeline}", total=None)
        done = (tick.epoch - 1) * tick.batches + tick.batch
        self._progress.update(self._tasks[key], completed=done, total=tick.epochs * tick.batches)

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()


def _when(t: datetime) -> str:
    return t.astimezone().strftime("%Y-%m-%d %H:%M")
