"""``satchel train``, ``predict`` and ``export-model``: one learner's model, on demand."""

from __future__ import annotations

from pathlib import Path

import click

from satchel.cli import CONFIG_OPTION, JSON_OPTION, _echo_json, _open_app


@click.command()
@click.option("--subject", required=True)
@click.option("--pipeline", required=True)
@click.option("--epochs", type=int, help="default: the pipeline's epochs")
@JSON_OPTION
@CONFIG_OPTION
@click.pass_context
def train(
    ctx: click.Context, subject: str, pipeline: str, epochs: int | None, as_json: bool, config_path: Path
) -> None:
    """Train PIPELINE for SUBJECT now (consent permitting), ignoring the scheduler."""
    with _open_app(ctx, config_path) as app:
        report = app.train(subject, pipeline, epochs=epochs)
    if as_json:
        _echo_json(
            {
                "pipeline": pipeline,
                "checkpoint_version": report.checkpoint_version,
                "samples": report.context.samples,
                "seconds": report.seconds,
                "promoted": report.promoted,
                "reason": report.reason,
                "metrics": dict(report.metrics),
            }
        )
        return
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in report.metrics.items())
    click.echo(
        f"trained {pipeline} v{report.checkpoint_version} on {report.context.samples} samples "
        f"in {report.seconds:.2f}s; {report.reason}"
    )
    click.echo(f"held-out metrics: {metrics}")


@click.command()
@click.option("--subject", required=True)
@click.option("--pipeline", required=True)
@JSON_OPTION
@CONFIG_OPTION
@click.pass_context
def predict(ctx: click.Context, subject: str, pipeline: str, as_json: bool, config_path: Path) -> None:
    """Print PIPELINE's decisions for SUBJECT now."""
    with _open_app(ctx, config_path) as app:
        result = app.predict(subject, pipeline)
    rows = [{"key": d.key, "action": d.action, "score": d.score, **dict(d.details)} for d in result.decisions]
    if as_json:
        _echo_json(
            {
                "pipeline": pipeline,
                "personalized": result.personalized,
                "checkpoint_version": result.checkpoint_version,
                "decisions": rows,
            }
        )
        return
    source = f"model v{result.checkpoint_version}" if result.personalized else "prior (no model yet)"
    click.echo(f"{pipeline} for {subject} ({source}):")
    for d in result.decisions:
        click.echo(f"  {d.key}: {d.action} ({d.score:.2f})")


@click.command("export-model")
@click.option("--subject", required=True)
@click.option("--pipeline", required=True)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="directory for the artifacts")
@JSON_OPTION
@CONFIG_OPTION
@click.pass_context
def export_model(
    ctx: click.Context, subject: str, pipeline: str, out: Path, as_json: bool, config_path: Path
) -> None:
    """Write SUBJECT's trained PIPELINE model + manifest for an Android/iOS app."""
    with _open_app(ctx, config_path) as app:
        manifest = app.export_model(subject, pipeline, out)
    if as_json:
        _echo_json(
            {"out": str(out), "manifest": str(manifest), "files": sorted(p.name for p in Path(out).iterdir())}
        )
        return
    click.echo(f"wrote {out}")
