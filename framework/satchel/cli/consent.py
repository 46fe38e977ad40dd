"""``satchel consent grant``, ``withdraw``, ``show`` and ``history``: a learner's opt-in consent."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import click

from satchel.cli import CONFIG_OPTION, JSON_OPTION, _echo_json, _open_app

if TYPE_CHECKING:
    from satchel.plugin.records import Actor


@click.group("consent")
def consent_group() -> None:
    """Grant, withdraw and inspect opt-in consent."""


@consent_group.command("grant")
@click.argument("subject")
@click.option("--purpose", "purposes", multiple=True, required=True, help="repeat for several purposes")
@click.option(
    "--notice-file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    required=True,
    help="the exact notice text shown (only its SHA-256 is stored)",
)
@click.option("--policy-version", required=True)
@click.option("--actor", type=click.Choice(["self", "guardian", "school"]), required=True)
@click.option("--age-band", required=True, help="e.g. 8-12 or 18+")
@click.option("--method", required=True, help="how consent was collected, e.g. signed_form")
@click.option("--expires", type=click.DateTime(), help="expiry (UTC)")
@CONFIG_OPTION
@click.pass_context
def consent_grant(
    ctx: click.Context,
    subject: str,
    purposes: tuple[str, ...],
    notice_file: Path,
    policy_version: str,
    actor: Actor,
    age_band: str,
    method: str,
    expires: datetime | None,
    config_path: Path,
) -> None:
    """Record SUBJECT's opt-in consent."""
    with _open_app(ctx, config_path) as app:
        entry = app.consent.grant(
            subject,
            purposes=purposes,
            notice=notice_file.read_text(encoding="utf-8"),
            policy_version=policy_version,
            actor=actor,
            age_band=age_band,
            method=method,
            expires_at=expires.replace(tzinfo=timezone.utc) if expires else None,
        )
    click.echo(f"granted {', '.join(entry.purposes)} (notice sha256 {entry.notice_sha256[:16]}…)")


@consent_group.command("withdraw")
@click.argument("subject")
@click.option("--purpose", "purposes", multiple=True, help="default: every active purpose")
@click.option("--reason", default="")
@CONFIG_OPTION
@click.pass_context
def consent_withdraw(
    ctx: click.Context, subject: str, purposes: tuple[str, ...], reason: str, config_path: Path
) -> None:
    """Withdraw SUBJECT's consent; effective at once, with the configured purge."""
    with _open_app(ctx, config_path) as app:
        entry = app.consent.withdraw(subject, purposes=purposes or None, reason=reason)
    click.echo(f"withdrew {', '.join(entry.purposes)}")


@consent_group.command("show")
@click.argument("subject")
@JSON_OPTION
@CONFIG_OPTION
@click.pass_context
def consent_show(ctx: click.Context, subject: str, as_json: bool, config_path: Path) -> None:
    """The consent in force for SUBJECT, per purpose."""
    from satchel.app import _entry_json

    with _open_app(ctx, config_path) as app:
        status = app.consent.show(subject)
    if as_json:
        _echo_json({p: _entry_json(e) for p, e in status.active.items()})
        return
    if not status.active:
        click.echo("no active consent")
    for purpose, e in status.active.items():
        until = f", until {e.expires_at:%Y-%m-%d}" if e.expires_at else ""
        click.echo(
            f"{purpose}: by {e.actor} (age band {e.age_band}) on {e.at:%Y-%m-%d}, "
            f"policy {e.policy_version}{until}"
        )


@consent_group.command("history")
@click.argument("subject")
@CONFIG_OPTION
@click.pass_context
def consent_history(ctx: click.Context, subject: str, config_path: Path) -> None:
    """Every consent change for SUBJECT, oldest first (JSON)."""
    from satchel.app import _entry_json

    with _open_app(ctx, config_path) as app:
        _echo_json([_entry_json(e) for e in app.consent.history(subject)])
