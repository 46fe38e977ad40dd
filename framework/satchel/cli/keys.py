"""``satchel keys rotate``: master-key operations."""

from __future__ import annotations

from pathlib import Path

import click

from satchel.cli import CONFIG_OPTION, _open_app


@click.group("keys")
def keys_group() -> None:
    """Master-key operations."""


@keys_group.command("rotate")
@CONFIG_OPTION
@click.pass_context
def keys_rotate(ctx: click.Context, config_path: Path) -> None:
    """Re-wrap every subject key under a new master key; the old key is retired."""
    from satchel.privacy.key_provider import rotate_master_key

    with _open_app(ctx, config_path) as app:
        rotation = rotate_master_key(app.vault, app.key_provider)
        app.audit_log.append(
            "keys.rotated",
            old_key=rotation.old_key_id,
            new_key=rotation.new_key_id,
            subjects=rotation.subjects,
        )
    click.echo(
        f"rotated master key {rotation.old_key_id} -> {rotation.new_key_id} "
        f"({rotation.subjects} subject keys re-wrapped; data untouched)"
    )
