"""The ``satchel`` command line. Errors print one clear line; ``--debug`` shows the traceback."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from satchel._version import __version__
from satchel.errors import ConfigError, SatchelError

CONFIG_OPTION = click.option(
    "-c", "--config", "config_path", type=click.Path(path_type=Path), envvar="SATCHEL_CONFIG",
    default="satchel.toml", show_default=True, help="the app's pipeline configuration (env SATCHEL_CONFIG)")


class _Cli(click.Group):
    """Adds plugin commands lazily and turns SatchelError into one line and exit code 1."""

    def _plugin_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        registry = _registry(ctx)
        return {name: reg.spec.command for name, reg in registry.all("cli_command").items()}

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(super().list_commands(ctx))
        try:
            names |= set(self._plugin_commands(ctx))
        except SatchelError:
            pass  # a broken plugin must not hide the built-in commands; `satchel plugins` reports it
        return sorted(names)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return super().get_command(ctx, name) or self._plugin_commands(ctx).get(name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SatchelError as e:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            _fail(e)


def _fail(e: SatchelError) -> None:
    err = click.get_text_stream("stderr")
    if isinstance(e, ConfigError):
        click.secho(f"error: {e.problems[0][0] + ': ' if len(e.problems) == 1 and e.problems[0][0] else ''}"
                    f"{e.problems[0][1] if len(e.problems) == 1 else str(e)}", fg="red", file=err)
    else:
        click.secho(f"error: {e}", fg="red", file=err)
    sys.exit(1)


def _registry(ctx: click.Context):  # noqa: ANN202 - Registry, imported lazily to keep --help fast
    root = ctx.find_root()
    root.ensure_object(dict)
    if "registry" not in root.obj:
        from satchel.registry import Registry

        root.obj["registry"] = Registry()
    return root.obj["registry"]


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="satchel")
@click.option("--debug", is_flag=True, help="show tracebacks and debug logs")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """satchel: on-device personalization for learning apps, with privacy controls."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.pass_context
def plugins(ctx: click.Context, as_json: bool) -> None:
    """List every hook kind and the plugins registered against it."""
    from satchel.registry import HOOK_KINDS, RUNTIME_HOOKS

    registry = _registry(ctx)
    report: dict[str, Any] = {"registrations": {}, "runtime_hooks": {}, "plugins": []}
    for kind in HOOK_KINDS:
        rows = []
        for name, reg in sorted(registry.all(kind.record.kind).items()):
            o = reg.origin
            rows.append({"name": name, "plugin": o.plugin, "distribution": o.distribution,
                         "version": o.version, "builtin": o.builtin,
                         "description": getattr(reg.spec, "description", "")})
        report["registrations"][kind.hook] = rows
    for hook in RUNTIME_HOOKS:
        report["runtime_hooks"][hook] = [
            {"plugin": o.plugin, "distribution": o.distribution, "version": o.version, "builtin": o.builtin}
            for o in registry.implementations(hook)]
    report["plugins"] = [{"plugin": o.plugin, "distribution": o.distribution, "version": o.version,
                          "builtin": o.builtin} for o in registry.plugins()]
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="satchel plugins", show_lines=False)
    for col in ("hook", "name", "plugin", "distribution", "built-in"):
        table.add_column(col)
    for hook, rows in report["registrations"].items():
        if not rows:
            table.add_row(hook, "—", "", "", "")
        for r in rows:
            table.add_row(hook, r["name"], r["plugin"], f"{r['distribution']} {r['version']}",
                          "yes" if r["builtin"] else "no")
    for hook, rows in report["runtime_hooks"].items():
        if not rows:
            table.add_row(hook, "—", "", "", "")
        for r in rows:
            table.add_row(hook, "(implements)", r["plugin"], f"{r['distribution']} {r['version']}",
                          "yes" if r["builtin"] else "no")
    Console().print(table)


@cli.command()
@click.argument("config", type=click.Path(path_type=Path), default="satchel.toml")
@click.pass_context
def validate(ctx: click.Context, config: Path) -> None:
    """Check CONFIG; report every problem with its dotted path (exit 0 if valid, 1 if not)."""
    from satchel.config import load_config

    try:
        cfg = load_config(config, _registry(ctx))
    except ConfigError as e:
        click.secho(str(e), fg="red", err=True)
        sys.exit(1)
    click.echo(f"{config}: valid — app '{cfg.app_id}', pipelines: {', '.join(cfg.pipelines)}")


@cli.command()
@click.argument("path", type=click.Path(path_type=Path), default="satchel.toml")
@click.option("--force", is_flag=True, help="overwrite an existing file")
def init(path: Path, force: bool) -> None:
    """Write a commented starter configuration to PATH."""
    from satchel.config import STARTER_CONFIG

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
    from satchel.config import config_schema

    click.echo(json.dumps(config_schema(_registry(ctx)), indent=2))


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="satchel", obj={})
