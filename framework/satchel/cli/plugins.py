"""``satchel plugins``: every hook kind, the plugins registered against it, and the plugin commands."""

from __future__ import annotations

import json
import shutil
from typing import Any

import click

from satchel.cli import CLI_ENTRY_POINT_GROUP, JSON_OPTION, _entry_point_commands, _registry


@click.command()
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
