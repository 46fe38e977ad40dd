"""Helpers of the runner tests: configs, event histories, consent, the CLI in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from satchel.events import Event
from satchel.plugin.records import DeviceState

NOTICE = "We use your habit history on this device only, to time reminders. You can withdraw any time."
KEY_ENV = "SATCHEL_TEST_KEY"

CONFIG = """
[app]
id = "runner-test"
data_dir = "{data}"
key_dir = "{keys}"

[privacy]
key_provider = {{ name = "env", options = {{ variable = "{key_env}" }} }}
retention_days = 90

[pipelines.habits]
model = {{ name = "habit", options = {{ min_samples = 10 }} }}
purposes = ["habit_reminders"]
backend = "litert"
epochs = 3
scheduler = {{ name = "conditions", options = {{ {scheduler} }} }}
"""

GOOD_DEVICE = DeviceState(battery_percent=90, charging=True, idle=True, unmetered_network=True, source="test")
UNPLUGGED = DeviceState(battery_percent=90, charging=False, idle=True, unmetered_network=True, source="test")


def write_config(root: Path, scheduler: str = 'min_interval = "6h"', key_env: str = KEY_ENV) -> Path:
    path = root / "satchel.toml"
    path.write_text(
        CONFIG.format(
            data=(root / "data").as_posix(),
            keys=(root / "keys").as_posix(),
            key_env=key_env,
            scheduler=scheduler,
        )
    )
    return path


def history(days: int = 30, habit: str = "reading", now: datetime | None = None) -> list[Event]:
    """``days`` days of app openings and (two days in three) completions, ending yesterday."""
    now = now or datetime.now(timezone.utc)
    out = []
    for d in range(days):
        t = now - timedelta(days=days - d)
        out.append(Event(type="app_opened", time=t.replace(hour=8), data={}))
        if d % 3:
            out.append(Event(type="habit_completed", time=t.replace(hour=19), data={"habit": habit}))
    return out


def grant(app: Any, subject: str) -> None:
    app.consent.grant(
        subject,
        purposes=["habit_reminders"],
        notice=NOTICE,
        policy_version="2026-01",
        actor="self",
        age_band="18+",
        method="in_app_checkbox",
    )


def enrol(app: Any, subject: str, days: int = 30, *, ending: datetime | None = None) -> str:
    """Consent and a history for ``subject`` (ending the day before ``ending``, default today); returns
    its pseudonym."""
    grant(app, subject)
    app.record(subject, history(days, now=ending))
    return app.pseudonym(subject)


# The satchel CLI with the runner commands wired in (as the lead does) and a charging, idle device.
# SATCHEL_TEST_TRACE names a file where every training's start and end are appended (pid, time).
CLI_MAIN = r"""
import os, sys, time
from satchel import hookimpl
from satchel.cli import cli
from satchel.cli.runner import run, status, tick
from satchel.plugin.records import DeviceState
from satchel.training.runner import HostDeviceState
from satchel.testing import isolated_registry

class Trace:
    def __init__(self, path):
        self.path = path

    def _write(self, what, subject, pipeline):
        with open(self.path, "a") as f:
            f.write(f"{what} {subject} {pipeline} {os.getpid()} {time.time():.6f}\n")

    @hookimpl
    def satchel_before_training(self, context):
        self._write("start", context.subject, context.pipeline)

    @hookimpl
    def satchel_after_training(self, report):
        self._write("end", report.context.subject, report.context.pipeline)

for command in (tick, run, status):
    cli.add_command(command)
plugins = {"host_device": HostDeviceState(DeviceState(battery_percent=90, charging=True, idle=True,
                                                 unmetered_network=True, source="test"))}
if os.environ.get("SATCHEL_TEST_TRACE"):
    plugins["trace"] = Trace(os.environ["SATCHEL_TEST_TRACE"])
cli.main(sys.argv[1:], prog_name="satchel", obj={"registry": isolated_registry(plugins)})
"""


def spawn(*args: str, **kw: Any) -> subprocess.Popen[str]:
    """``satchel ARGS`` in a subprocess (stdout and stderr piped, text)."""
    return subprocess.Popen(
        [sys.executable, "-c", CLI_MAIN, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def summaries(stdout: str) -> list[dict[str, Any]]:
    """The JSON pass summaries printed by ``tick --json`` / ``run --json``."""
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def counting_reads(app) -> list[str]:
    """The learners whose events ``app`` reads from now on (a full read or a read of what is new)."""
    reads: list[str] = []
    read, read_since = app.events.read, app.events.read_since
    app.events.read = lambda subject, types=None: reads.append(subject) or read(subject, types)
    app.events.read_since = lambda subject, mark, types=None: (
        reads.append(subject) or read_since(subject, mark, types)
    )
    return reads
