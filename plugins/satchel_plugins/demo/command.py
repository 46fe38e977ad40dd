"""The ``satchel demo`` command: a throwaway master key and key directory, the three apps opened on the
data directory, and the six sections run in turn."""

from __future__ import annotations

import base64
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from satchel_plugins._native_logs import quiet_native_logs
from satchel_plugins.demo.apps import APPS, KEY_VARIABLE
from satchel_plugins.demo.learning_scenes import grading, habits, vocabulary
from satchel_plugins.demo.privacy_scenes import audit, look_inside, rights
from satchel_plugins.demo.rendering import print_cells

if TYPE_CHECKING:
    from rich.console import Console


@click.command()
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="keep the (encrypted) data here; a new or empty directory. Default: a temp dir",
)
@click.option("--full-report", is_flag=True, help="also print each app's full privacy audit report")
def demo(data_dir: Path | None, full_report: bool) -> None:
    """Simulated learners in three apps: consent, encrypted events, on-device training, decisions, audit."""
    from rich.console import Console

    if data_dir is not None and data_dir.exists() and any(data_dir.iterdir()):
        raise click.UsageError(f"{data_dir} is not empty; pass a new directory (each demo makes new keys)")
    console = Console(highlight=False)
    started = time.perf_counter()
    keys_dir = tempfile.TemporaryDirectory(prefix="satchel-demo-keys-")
    with keys_dir as keys, _master_key(), quiet_native_logs():
        if data_dir is None:
            with tempfile.TemporaryDirectory(prefix="satchel-demo-data-") as tmp:
                _run(console, Path(tmp), Path(keys), full_report)
        else:
            data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            _run(console, data_dir.resolve(), Path(keys), full_report)
    if data_dir is not None:
        console.print(
            f"\nThe data stays in {data_dir}, but its key vaults and master key are gone with this "
            "process: nobody can decrypt it any more."
        )
    console.print(
        f"\n[bold]Done in {time.perf_counter() - started:.1f} s.[/] Everything ran on this "
        "machine; nothing was sent anywhere."
    )


def _run(console: Console, data_root: Path, key_root: Path, full_report: bool) -> None:
    """Open the three apps on ``data_root`` (key vaults under ``key_root``) and run the six sections."""
    import satchel
    from satchel.plugin.registry import Registry

    console.rule("[bold]satchel demo: on-device personalization with privacy controls")
    console.print(
        "Three learning apps adapt to simulated learners. Their events stay on this device, "
        "encrypted, and nothing is stored, trained or predicted without an opt-in consent."
    )
    print_cells(console, ("data", str(data_root)), (14,))
    print_cells(console, ("keys", f"{key_root} (temporary, apart from the data)"), (14,))
    print_cells(
        console,
        (
            "master key",
            f"32 random bytes generated in this process into ${KEY_VARIABLE} "
            "(key provider 'env'): no key file is written",
        ),
        (14,),
    )
    registry = Registry()
    apps = [satchel.open(a.config(data_root, key_root), registry=registry) for a in APPS]
    try:
        habits(console, apps[0])
        vocabulary(console, apps[1])
        grading(console, apps[2])
        rights(console, apps[0], apps[1])
        look_inside(console, data_root, key_root)
        audit(console, apps, full_report)
    finally:
        for app in apps:
            app.close()


@contextmanager
def _master_key() -> Iterator[None]:
    """A fresh random master key in ``KEY_VARIABLE`` for the duration of the demo (never on disk)."""
    previous = os.environ.get(KEY_VARIABLE)
    os.environ[KEY_VARIABLE] = base64.b64encode(secrets.token_bytes(32)).decode()
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(KEY_VARIABLE, None)
        else:
            os.environ[KEY_VARIABLE] = previous
