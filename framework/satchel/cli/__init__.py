"""The ``satchel`` command line. Errors print one clear line; ``--debug`` shows the traceback."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from satchel._version import __version__
from satchel.errors import ConfigError, ConsentError, SatchelError

if TYPE_CHECKING:
    from satchel.app import App
    from satchel.plugin.registry import Registry

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


#: The built-in commands (name: ``module:attribute``), each imported only when used or listed: a command
#: module imports its heavy modules inside the command, so ``--help`` stays light.
_LAZY_COMMANDS = {
    "audit": "satchel.cli.audit:audit",
    "config": "satchel.cli.config:config_group",
    "consent": "satchel.cli.consent:consent_group",
    "erase": "satchel.cli.data:erase",
    "evaluate": "satchel.cli.evaluate:evaluate",
    "events": "satchel.cli.data:events_group",
    "export": "satchel.cli.data:export_cmd",
    "export-model": "satchel.cli.models:export_model",
    "federate": "satchel.cli.federate:federate",
    "ingest": "satchel.cli.data:ingest",
    "init": "satchel.cli.config:init",
    "keys": "satchel.cli.keys:keys_group",
    "plugins": "satchel.cli.plugins:plugins",
    "predict": "satchel.cli.models:predict",
    "run": "satchel.cli.runner:run",
    "status": "satchel.cli.runner:status",
    "tick": "satchel.cli.runner:tick",
    "train": "satchel.cli.models:train",
    "validate": "satchel.cli.config:validate",
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

            module, _, attribute = _LAZY_COMMANDS[name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attribute), name)
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
            err=True,
        )
    else:
        click.secho(f"error: {e}", fg="red", err=True)
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


def _registry(ctx: click.Context) -> Registry:
    root = ctx.find_root()
    root.ensure_object(dict)
    if "registry" not in root.obj:
        from satchel.plugin.registry import Registry

        registry = Registry()
        if root.obj.get("plugins_dir") is not None:
            registry.register_directory(root.obj["plugins_dir"])
        root.obj["registry"] = registry
    return root.obj["registry"]


def _open_app(ctx: click.Context, config_path: Path) -> App:
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


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="satchel", obj={})
