"""The ``satchel`` command line. Errors print one clear line; ``--debug`` shows the traceback."""

from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

import click

from satchel._version import __version__
from satchel.errors import ConfigError, ConsentError, SatchelError

CONFIG_OPTION = click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    envvar="SATCHEL_CONFIG",
    default="satchel.toml",
    show_default=True,
    help="the app's pipeline configuration (env SATCHEL_CONFIG)",
)


def _remember_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    root = ctx.find_root()
    root.ensure_object(dict)
    root.obj["json"] = root.obj.get("json", False) or value
    return value


JSON_OPTION = click.option(
    "--json",
    "as_json",
    is_flag=True,
    callback=_remember_json,
    expose_value=True,
    help="machine-readable output; errors are JSON too",
)


#: Built-in commands living in other modules, imported only when used (keeps --help light).
_LAZY_COMMANDS = {
    "tick": "satchel.cli.runner",
    "run": "satchel.cli.runner",
    "status": "satchel.cli.runner",
    "evaluate": "satchel.cli.evaluate",
    "federate": "satchel.cli.federate",
}


#: Entry-point group of plugin CLI commands (``name = "module:command"``). ``--help`` imports only
#: these modules, never the component plugins, so keep them light (heavy imports inside the command).
CLI_ENTRY_POINT_GROUP = "satchel.cli"


def _entry_point_commands() -> dict[str, Any]:
    """Plugin commands by name (entry points, not yet imported), minus SATCHEL_DISABLE_PLUGINS."""
    import os
    from importlib import metadata

    disabled = {n.strip() for n in os.environ.get("SATCHEL_DISABLE_PLUGINS", "").split(",") if n.strip()}
    return {
        ep.name: ep for ep in metadata.entry_points(group=CLI_ENTRY_POINT_GROUP) if ep.name not in disabled
    }


class _Cli(click.Group):
    """Adds lazy built-in and plugin commands and turns SatchelError into one line and exit code 1."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_LAZY_COMMANDS) | set(_entry_point_commands()))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in _LAZY_COMMANDS and name not in self.commands:
            import importlib

            self.add_command(getattr(importlib.import_module(_LAZY_COMMANDS[name]), name))
        found = super().get_command(ctx, name)
        if found is not None:
            return found
        ep = _entry_point_commands().get(name)
        if ep is not None:
            return _load_command(ep)
        return self._hook_command(ctx, name)

    @staticmethod
    def _hook_command(ctx: click.Context, name: str) -> click.Command | None:
        """A command from the deprecated ``satchel_cli_commands`` hook (loads every plugin)."""
        try:
            found = _registry(ctx).all("cli_command").get(name)
        except SatchelError as e:  # a broken plugin must not hide the built-in commands
            logging.getLogger("satchel.cli").debug("plugin commands unavailable: %s", e)
            return None
        if found is None:
            return None
        import warnings

        warnings.warn(
            f"{found.origin.describe()} adds '{name}' through the satchel_cli_commands hook, which is "
            f"deprecated: register it in the '{CLI_ENTRY_POINT_GROUP}' entry-point group instead",
            DeprecationWarning,
            stacklevel=2,
        )
        return found.spec.command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SatchelError as e:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            _fail(e, as_json=bool(ctx.obj and ctx.obj.get("json")))
        except (click.exceptions.ClickException, click.exceptions.Abort, click.exceptions.Exit):
            raise
        except Exception as e:  # a bug: still one line, with the way to the traceback
            if ctx.obj and ctx.obj.get("debug"):
                raise
            message = (
                f"internal error: {type(e).__name__}: {e} (rerun with --debug for the traceback, "
                "and please report it)"
            )
            if ctx.obj and ctx.obj.get("json"):
                _echo_json({"error": {"type": "InternalError", "message": message, "hint": None}})
            else:
                click.secho(message, fg="red", err=True)
            sys.exit(1)


def _load_command(ep: Any) -> click.Command:
    try:
        command = ep.load()
    except Exception as e:  # a broken plugin command is named, and the rest of the CLI keeps working
        dist = ep.dist.metadata["Name"] if ep.dist is not None else "(unknown)"
        raise click.ClickException(
            f"command '{ep.name}' from {dist} failed to import: {type(e).__name__}: {e} "
            f"(fix or uninstall {dist}, or set SATCHEL_DISABLE_PLUGINS={ep.name})"
        ) from e
    if not isinstance(command, click.Command):
        raise click.ClickException(
            f"entry point '{ep.name}' ({ep.value}) in group {CLI_ENTRY_POINT_GROUP} is "
            f"{type(command).__name__}, not a click command"
        )
    return command


def _fail(e: SatchelError, *, as_json: bool = False) -> None:
    err = click.get_text_stream("stderr")
    e = _for_the_cli(e)
    if as_json:
        error: dict[str, Any] = {
            "type": type(e).__name__,
            "message": getattr(e, "message", str(e)),
            "hint": getattr(e, "hint", None),
        }
        if isinstance(e, ConfigError):
            error["problems"] = [{"path": path, "message": msg} for path, msg in e.problems]
        _echo_json({"error": error})
        sys.exit(1)
    if isinstance(e, ConfigError):
        click.secho(
            f"error: {e.problems[0][0] + ': ' if len(e.problems) == 1 and e.problems[0][0] else ''}"
            f"{e.problems[0][1] if len(e.problems) == 1 else str(e)}",
            fg="red",
            file=err,
        )
    else:
        click.secho(f"error: {e}", fg="red", file=err)
    sys.exit(1)


def _for_the_cli(e: SatchelError) -> SatchelError:
    """The same error, with a hint naming the CLI command rather than the Python call."""
    if isinstance(e, ConsentError) and e.missing:
        purposes = " ".join(f"--purpose {p}" for p in e.missing)
        hint = (
            f"record an opt-in consent for its purposes ({', '.join(e.missing)}) first: satchel consent grant "
            f"SUBJECT {purposes} --notice-file NOTICE.txt --policy-version V --actor A --age-band B --method M"
        )
        return ConsentError(e.message, hint=hint, missing=e.missing)
    return e


def _registry(ctx: click.Context):
    root = ctx.find_root()
    root.ensure_object(dict)
    if "registry" not in root.obj:
        from satchel.plugin.registry import Registry

        registry = Registry()
        if root.obj.get("plugins_dir") is not None:
            registry.register_directory(root.obj["plugins_dir"])
        root.obj["registry"] = registry
    return root.obj["registry"]


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="satchel")
@click.option("--debug", is_flag=True, help="show tracebacks and debug logs")
@click.option(
    "--new-keys",
    is_flag=True,
    help="create a new key vault even though the data directory already holds data (that data "
    "stays unreadable); without it a missing key directory is refused",
)
@click.option(
    "--plugins-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    envvar="SATCHEL_PLUGINS_DIR",
    help="also load every *.py plugin file in this folder (env SATCHEL_PLUGINS_DIR)",
)
@click.pass_context
def cli(ctx: click.Context, debug: bool, new_keys: bool, plugins_dir: Path | None) -> None:
    """satchel: on-device personalization for learning apps, with privacy controls."""
    ctx.ensure_object(dict)
    ctx.obj["plugins_dir"] = plugins_dir
    ctx.obj["debug"] = debug
    ctx.obj["new_keys"] = new_keys
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


@cli.command()
@JSON_OPTION
@click.pass_context
def plugins(ctx: click.Context, as_json: bool) -> None:
    """List every hook kind and the plugins registered against it."""
    from satchel.plugin.registry import HOOK_KINDS, RUNTIME_HOOKS

    registry = _registry(ctx)
    report: dict[str, Any] = {"registrations": {}, "runtime_hooks": {}, "plugins": []}
    for kind in HOOK_KINDS:
        rows = []
        for name, reg in sorted(registry.all(kind.record.kind).items()):
            o = reg.origin
            rows.append(
                {
                    "name": name,
                    "plugin": o.plugin,
                    "distribution": o.distribution,
                    "version": o.version,
                    "builtin": o.builtin,
                    "description": getattr(reg.spec, "description", ""),
                }
            )
        report["registrations"][kind.hook] = rows
    for hook in RUNTIME_HOOKS:
        report["runtime_hooks"][hook] = [
            {"plugin": o.plugin, "distribution": o.distribution, "version": o.version, "builtin": o.builtin}
            for o in registry.implementations(hook)
        ]
    report["plugins"] = [
        {"plugin": o.plugin, "distribution": o.distribution, "version": o.version, "builtin": o.builtin}
        for o in registry.plugins()
    ]
    report["cli_commands"] = [_describe_command(ep) for _, ep in sorted(_entry_point_commands().items())]
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="satchel plugins", show_lines=False)
    for col in ("hook", "name", "plugin", "distribution", "built-in"):
        table.add_column(col, overflow="fold")
    for r in report["cli_commands"]:
        table.add_row(
            CLI_ENTRY_POINT_GROUP,
            r["name"],
            r["target"],
            f"{r['distribution']} {r['version']}",
            "yes" if r["builtin"] else "no",
        )
    for hook, rows in report["registrations"].items():
        if not rows:
            table.add_row(hook, "—", "", "", "")
        for r in rows:
            table.add_row(
                hook,
                r["name"],
                r["plugin"],
                f"{r['distribution']} {r['version']}",
                "yes" if r["builtin"] else "no",
            )
    for hook, rows in report["runtime_hooks"].items():
        if not rows:
            table.add_row(hook, "—", "", "", "")
        for r in rows:
            table.add_row(
                hook,
                "(implements)",
                r["plugin"],
                f"{r['distribution']} {r['version']}",
                "yes" if r["builtin"] else "no",
            )
    Console(width=max(120, shutil.get_terminal_size().columns)).print(table)  # never cut a name at 80 columns


def _describe_command(ep: Any) -> dict[str, Any]:
    dist = ep.dist.metadata["Name"] if ep.dist is not None else "(unknown)"
    version = ep.dist.version if ep.dist is not None else ""
    return {
        "name": ep.name,
        "target": ep.value,
        "distribution": dist,
        "version": version,
        "builtin": dist == "satchel",
    }


@cli.command()
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


@cli.command()
@click.argument("path", type=click.Path(path_type=Path), default="satchel.toml")
@click.option("--force", is_flag=True, help="overwrite an existing file")
def init(path: Path, force: bool) -> None:
    """Write a commented starter configuration to PATH."""
    from satchel.app.config import STARTER_CONFIG

    if path.exists() and not force:
        raise SatchelError(f"{path} already exists", hint="pass --force to overwrite it")
    path.write_text(STARTER_CONFIG, encoding="utf-8")
    click.echo(f"wrote {path}; edit it, then run `satchel validate {path}`")


@cli.group("config")
def config_group() -> None:
    """Configuration helpers."""


@config_group.command("schema")
@click.pass_context
def config_schema_cmd(ctx: click.Context) -> None:
    """Print the JSON Schema of satchel.toml (for editors), with each plugin's options."""
    from satchel.app.config import config_schema

    click.echo(json.dumps(config_schema(_registry(ctx)), indent=2))


# ---------------------------------------------------------------------- app commands


@cli.group("events")
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


def _open_app(ctx: click.Context, config_path: Path):
    import satchel

    def prompt(question: str) -> str:
        if not sys.stdin.isatty():
            raise SatchelError(
                "the key provider needs a passphrase but there is no terminal",
                hint="set the passphrase environment variable named in the config",
            )
        return click.prompt(question, hide_input=True)

    return satchel.open(
        config_path,
        registry=_registry(ctx),
        prompt=prompt,
        new_keys=bool(ctx.find_root().obj.get("new_keys")),
    )


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@cli.command()
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


@cli.group("consent")
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
    actor: str,
    age_band: str,
    method: str,
    expires: Any,
    config_path: Path,
) -> None:
    """Record SUBJECT's opt-in consent."""
    from datetime import timezone

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


@cli.command()
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


@cli.command()
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


@cli.command("export")
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


@cli.command("export-model")
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


@cli.command()
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


@cli.group("audit", invoke_without_command=True)
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


@cli.group("keys")
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


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="satchel", obj={})
