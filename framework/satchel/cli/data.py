"""``satchel events schema``, ``ingest``, ``export`` and ``erase``: a learner's data in, out and gone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from satchel.cli import CONFIG_OPTION, JSON_OPTION, _echo_json, _open_app, _registry
from satchel.errors import SatchelError


@click.group("events")
def events_group() -> None:
    """The event format plugins and importers share."""


@events_group.command("schema")
@click.pass_context
def events_schema(ctx: click.Context) -> None:
    """Print the JSON Schema of one line of a .jsonl event file, for every installed event type."""
    from satchel.events.schema import event_line_schema

    click.echo(json.dumps(event_line_schema(_registry(ctx)), indent=2))


def _key_value(text: str, flag: str, *, raw: bool = False) -> tuple[str, Any]:
    """``KEY=VALUE`` of ``flag``; the value parsed as JSON when it is JSON (unless ``raw``), else text."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise click.BadParameter(f"{text!r} is not KEY=VALUE", param_hint=flag)
    if raw:
        return key.strip(), value
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


@click.command()
@click.argument("file", type=click.Path(path_type=Path, exists=True))
@click.option("--source", help="a registered event source (see `satchel plugins`); default: by file suffix")
@click.option("--subject", help="the learner the file belongs to (for exports without a subject column)")
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="FIELD=COLUMN",
    help="a gradebook column for a field, e.g. --map student_answer=Antwort (repeat; needs --source)",
)
@click.option(
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="an option of the --source importer (repeat; values are JSON or text, e.g. scale_max=5)",
)
@JSON_OPTION
@CONFIG_OPTION
@click.pass_context
def ingest(
    ctx: click.Context,
    file: Path,
    source: str | None,
    subject: str | None,
    maps: tuple[str, ...],
    options: tuple[str, ...],
    as_json: bool,
    config_path: Path,
) -> None:
    """Import FILE, all or nothing; a bad line is named with its field.

    FILE is satchel JSONL or CSV, a `satchel export` JSON file as written, or (with --source) any
    registered format; a folder when the source reads folders (a Loop export extracted).
    """
    settings: dict[str, Any] = dict(_key_value(o, "--option") for o in options)
    if maps:
        settings["map"] = {**settings.get("map", {}), **dict(_key_value(m, "--map", raw=True) for m in maps)}
    with _open_app(ctx, config_path) as app:
        result = app.ingest(file, source=source, subject=subject, options=settings or None)
    if as_json:
        _echo_json({"file": str(file), "stored": result.stored, "duplicates": result.duplicates})
        return
    click.echo(f"stored {result.stored} events ({result.duplicates} already present)")


@click.command("export")
@click.option("--subject", required=True)
@click.option("--out", type=click.Path(path_type=Path), help="write JSON here (default: stdout)")
@CONFIG_OPTION
@click.pass_context
def export_cmd(ctx: click.Context, subject: str, out: Path | None, config_path: Path) -> None:
    """Everything stored about SUBJECT as JSON: events, consent history, models (right of access).

    `satchel ingest FILE.json` reads the file back as it is (its events; consent is granted anew).
    """
    with _open_app(ctx, config_path) as app:
        data = app.export_subject(subject)
    text = json.dumps(data, indent=2)
    if out is None:
        click.echo(text)
    else:
        from satchel.privacy.atomic import atomic_write

        atomic_write(out, text.encode())
        click.echo(f"wrote {out} ({len(data['events'])} events, {len(data['models'])} models)", err=True)


@click.command()
@click.option("--subject", required=True)
@click.option("--yes", is_flag=True, help="confirm: this cannot be undone")
@CONFIG_OPTION
@click.pass_context
def erase(ctx: click.Context, subject: str, yes: bool, config_path: Path) -> None:
    """Erase SUBJECT: delete their data and crypto-shred their key (irreversible)."""
    if not yes:
        raise SatchelError("erasure cannot be undone", hint="add --yes to confirm")
    with _open_app(ctx, config_path) as app:
        app.erase(subject)
    click.echo(
        "erased; the learner's data can no longer be decrypted, even from backups of the data directory"
    )
