"""``satchel audit`` and ``audit verify``: the privacy audit report and the audit log's integrity."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from satchel.cli import CONFIG_OPTION, JSON_OPTION, _open_app


@click.group("audit", invoke_without_command=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text")
@JSON_OPTION
@click.option("--out", type=click.Path(path_type=Path), help="write the report here")
@click.option("--strict", is_flag=True, help="exit 2 when a finding is at or above --fail-on")
@click.option(
    "--fail-on",
    type=click.Choice(["critical", "high", "medium", "low", "info"]),
    default="medium",
    show_default=True,
)
@CONFIG_OPTION
@click.pass_context
def audit(
    ctx: click.Context,
    fmt: str,
    as_json: bool,
    out: Path | None,
    strict: bool,
    fail_on: str,
    config_path: Path,
) -> None:
    """The privacy audit report: categories, purposes, consent coverage, protection, findings."""
    if ctx.invoked_subcommand is not None:
        return
    from satchel.audit.report import Severity, render_html, render_json, render_text

    with _open_app(ctx, config_path) as app:
        report = app.audit_report()
    fmt = "json" if as_json else fmt
    text = {"text": render_text, "json": render_json, "html": render_html}[fmt](report)
    if out is None:
        click.echo(text)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}", err=True)
    failing = report.findings_at_or_above(Severity.parse(fail_on))
    if strict and failing:
        click.secho(f"{len(failing)} finding(s) at or above {fail_on}", fg="red", err=True)
        sys.exit(2)


@audit.command("verify")
@CONFIG_OPTION
@click.pass_context
def audit_verify(ctx: click.Context, config_path: Path) -> None:
    """Check the audit log: edited, deleted, reordered, inserted or truncated entries fail."""
    with _open_app(ctx, config_path) as app:
        result = app.verify_audit_log()
    if result.ok:
        click.echo(f"audit log ok: {result.entries} entries, chain and anchor verified")
        return
    click.secho(f"audit log FAILED: {result.problem}", fg="red", err=True)
    sys.exit(1)
