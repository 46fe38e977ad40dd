"""``satchel validate``, ``init`` and ``config schema``: check, start and describe a satchel.toml."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from satchel.cli import JSON_OPTION, _echo_json, _fail, _registry
from satchel.errors import ConfigError, SatchelError


@click.command()
@click.argument("config", type=click.Path(path_type=Path), default="satchel.toml")
@JSON_OPTION
@click.pass_context
def validate(ctx: click.Context, config: Path, as_json: bool) -> None:
    """Check CONFIG; report every problem with its dotted path (exit 0 if valid, 1 if not)."""
    from satchel.app.config import load_config

    try:
        cfg = load_config(config, _registry(ctx))
    except ConfigError as e:
        if as_json:
            _fail(e, as_json=True)
        click.secho(str(e), fg="red", err=True)
        sys.exit(1)
    if as_json:
        _echo_json(
            {"config": str(config), "valid": True, "app": cfg.app_id, "pipelines": list(cfg.pipelines)}
        )
        return
    click.echo(f"{config}: valid — app '{cfg.app_id}', pipelines: {', '.join(cfg.pipelines)}")


@click.command()
@click.argument("path", type=click.Path(path_type=Path), default="satchel.toml")
@click.option("--force", is_flag=True, help="overwrite an existing file")
def init(path: Path, force: bool) -> None:
    """Write a commented starter configuration to PATH."""
    from satchel.app.config import STARTER_CONFIG

    if path.exists() and not force:
        raise SatchelError(f"{path} already exists", hint="pass --force to overwrite it")
    path.write_text(STARTER_CONFIG, encoding="utf-8")
    click.echo(f"wrote {path}; edit it, then run `satchel validate {path}`")


@click.group("config")
def config_group() -> None:
    """Configuration helpers."""


@config_group.command("schema")
@click.pass_context
def config_schema_cmd(ctx: click.Context) -> None:
    """Print the JSON Schema of satchel.toml (for editors), with each plugin's options."""
    from satchel.app.config import config_schema

    click.echo(json.dumps(config_schema(_registry(ctx)), indent=2))
