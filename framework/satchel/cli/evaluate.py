"""``satchel evaluate``: replay a real export through the app's pipelines as a device lives it."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import click

from satchel.cli import CONFIG_OPTION, JSON_OPTION, _registry
from satchel.cli.runner import Duration
from satchel.errors import SatchelError


@click.command()
@click.argument("export", type=click.Path(path_type=Path, exists=True))
@click.option("--source", help="a registered event source (see `satchel plugins`); default: by file suffix")
@click.option("--subject", help="the learner the file belongs to (for exports without a subject column)")
@click.option("--pipeline", "pipelines", multiple=True, help="evaluate only this pipeline (repeatable)")
@click.option(
    "--step",
    type=Duration(),
    default="1d",
    show_default=True,
    help="simulated time between runner passes: 1d, 12h, 30m …",
)
@click.option(
    "--curve", default="", help="learning curve cuts by labelled samples known, e.g. 0,10,25,50,100,200"
)
@JSON_OPTION
@click.option(
    "--plot", type=click.Path(path_type=Path, dir_okay=False), help="write a calibration plot (PNG) here"
)
@CONFIG_OPTION
@click.pass_context
def evaluate(
    ctx: click.Context,
    export: Path,
    source: str | None,
    subject: str | None,
    pipelines: tuple[str, ...],
    step: float,
    curve: str,
    as_json: bool,
    plot: Path | None,
    config_path: Path,
) -> None:
    """Replay EXPORT (any importable file, or a folder a source reads) through the config's pipelines.

    Events arrive in time order; the pipeline's own scheduler decides when to train; every
    outcome is predicted before it is seen, by satchel (what the device would serve) and by the
    task's baselines, on the same items. Nothing is kept: the replay runs in a temporary,
    encrypted app under a throwaway key.
    """
    from satchel.evaluation.replay import replay

    try:
        cuts = tuple(int(c) for c in curve.split(",") if c.strip())
    except ValueError:
        raise click.BadParameter(
            f"{curve!r}: give whole numbers separated by commas", param_hint="--curve"
        ) from None
    if not config_path.exists():
        raise SatchelError(
            f"config file {config_path} not found",
            hint="pass --config, or write a starter with `satchel init`",
        )
    with click.progressbar(length=1, label="replaying", file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        result = replay(
            config_path,
            export,
            source=source,
            subject=subject,
            pipelines=pipelines or None,
            step=timedelta(seconds=step),
            curve=cuts,
            registry=_registry(ctx),
            progress=progress,
        )
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(result.table())
    if plot is not None:
        click.echo(f"calibration plot: {result.plot(plot)}", err=as_json)
