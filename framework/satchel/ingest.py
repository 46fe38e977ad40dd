"""Reading event files: satchel's own JSONL and CSV formats, or any registered event source.

JSONL, one event per line::

    {"subject": "ada", "type": "habit_completed", "time": "2026-03-01T18:04:00+01:00", "data": {"habit": "reading"}}

CSV, with columns ``subject,type,time`` (``id`` optional) and one column per data field; empty cells
are left out. Every problem names the line and the field; nothing is returned from a bad file.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Mapping

from pydantic import ValidationError

from satchel.errors import EventError
from satchel.events import Event
from satchel.registry import Registry
from satchel.task import SourcedEvent

_FIXED = ("subject", "type", "time", "id")


def parse_event(raw: Mapping[str, Any], where: str) -> Event:
    """An :class:`Event` from a mapping; errors name ``where`` and the field."""
    try:
        return Event.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(map(str, err["loc"])) or "event"
        raise EventError(f"{where}: field '{field}': {err['msg']}",
                         hint="an event needs a type, a time with a time zone (ISO 8601), and data") from None


def read_file(path: Path, registry: Registry, *, source: str | None = None,
              subject: str | None = None) -> list[SourcedEvent]:
    """All events in ``path`` (the whole file is read and checked before anything is returned)."""
    if not path.is_file():
        raise EventError(f"no such file: {path}")
    if source is not None:
        items = list(registry.get("event_source", source).create().read(path))
    elif path.suffix.lower() in (".jsonl", ".ndjson"):
        items = list(_jsonl(path))
    elif path.suffix.lower() == ".csv":
        items = list(_csv(path))
    else:
        choices = ", ".join(sorted(registry.all("event_source")))
        raise EventError(f"{path.name}: unknown file type '{path.suffix}'",
                         hint=f"use .jsonl or .csv in satchel's format, or --source one of: {choices}")
    out = []
    for item in items:
        who = subject or item.subject
        if not who:
            raise EventError(f"{path.name} line {item.line}: no subject", hint="pass --subject for this file")
        out.append(SourcedEvent(who, item.event, item.line))
    return out


def _jsonl(path: Path):  # noqa: ANN202 - generator
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path.name} line {n}"
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as e:
                raise EventError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(raw, dict):
                raise EventError(f"{where}: expected a JSON object, got {type(raw).__name__}")
            subject = raw.pop("subject", None)
            if not isinstance(subject, str) or not subject:
                raise EventError(f"{where}: field 'subject': required, a non-empty string")
            yield SourcedEvent(subject, parse_event(raw, where), n)


def _csv(path: Path):  # noqa: ANN202 - generator
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in _FIXED[:3] if c not in (reader.fieldnames or ())]
        if missing:
            raise EventError(f"{path.name} line 1: missing column(s) {missing}",
                             hint="the header needs subject,type,time (and optionally id) plus data columns")
        for row in reader:
            n = reader.line_num
            where = f"{path.name} line {n}"
            if None in row:
                raise EventError(f"{where}: more cells than header columns")
            data = {k: v for k, v in row.items() if k not in _FIXED and v not in ("", None)}
            raw: dict[str, Any] = {"type": row["type"], "time": row["time"], "data": data}
            if row.get("id"):
                raw["id"] = row["id"]
            if not row["subject"]:
                raise EventError(f"{where}: field 'subject': required")
            yield SourcedEvent(row["subject"], parse_event(raw, where), n)
