"""Reading event files: satchel's own JSONL, CSV and export formats, or any registered event source.

JSONL, one event per line::

    {"subject": "ada", "type": "habit_completed", "time": "2026-03-01T18:04:00+01:00", "data": {"habit": "reading"}}

CSV, with columns ``subject,type,time`` (``id`` optional) and one column per data field; empty cells
are left out. ``subject`` may be left out of either when ``--subject`` names the learner.

JSON: what ``satchel export`` (:meth:`satchel.App.export_subject`) writes, unchanged — its
``events`` are imported for its ``subject``; consent and models are not (consent is granted anew).

Files are UTF-8. Every problem names the file, the line and the field; nothing is returned from a
bad file. A folder is read only by an event source whose class sets ``reads_folders = True``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from satchel.errors import EventError
from satchel.events import Event
from satchel.model.task import SourcedEvent
from satchel.plugin.registry import Registry

_FIXED = ("subject", "type", "time", "id")
_EVENT_HINT = "an event needs a type, a time with a time zone (ISO 8601), and data"
_UTF8_HINT = "save the file as UTF-8 (most editors offer it under 'Save as… / Encoding')"
_EXPORT_HINT = "pass the file `satchel export --subject ID --out FILE.json` wrote, unchanged"


def parse_event(raw: Mapping[str, Any], where: str, hint: str = _EVENT_HINT) -> Event:
    """An :class:`Event` from a mapping; errors name ``where`` and the field."""
    try:
        return Event.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(map(str, err["loc"])) or "event"
        raise EventError(f"{where}: field '{field}': {err['msg']}", hint=hint) from None


def check_subject(subject: object, where: str) -> str:
    """``subject`` if it is a learner id: a non-empty string of at most 256 characters, valid UTF-8."""
    if not isinstance(subject, str) or not subject.strip():
        raise EventError(
            f"{where}: field 'subject': required, a non-empty string",
            hint="add the learner's id to the file, or pass --subject",
        )
    if len(subject) > 256:
        raise EventError(f"{where}: field 'subject': {len(subject)} characters, at most 256")
    try:
        subject.encode("utf-8")
    except UnicodeEncodeError:
        raise EventError(
            f"{where}: field 'subject': not valid Unicode (a lone surrogate)", hint=_UTF8_HINT
        ) from None
    return subject


def decode_text(raw: bytes, where: str, hint: str = _UTF8_HINT) -> str:
    """UTF-8 text (a BOM is dropped); a byte that is not UTF-8 is named by line and column."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        column = e.start - raw.rfind(b"\n", 0, e.start)
        raise EventError(
            f"{where}:{line}: byte {column} of the line (0x{raw[e.start]:02x}) is not UTF-8", hint=hint
        ) from None


def read_file(
    path: Path,
    registry: Registry,
    *,
    source: str | None = None,
    subject: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> list[SourcedEvent]:
    """All events in ``path`` (the whole file is read and checked before anything is returned).
    ``options`` configure the event ``source`` (its options model), e.g. a gradebook's column map."""
    if options and source is None:
        raise EventError("importer options need --source", hint="name the event source the options are for")
    if subject is not None:
        check_subject(subject, "--subject")
    if path.is_dir():
        _check_folder(path, registry, source)
    elif not path.is_file():
        raise EventError(f"no such file: {path}")
    if source is not None:
        return [
            SourcedEvent(
                check_subject(subject or item.subject, f"{path.name} line {item.line}"), item.event, item.line
            )
            for item in _from_source(path, registry, source, options)
        ]
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return list(_jsonl(path, subject))
    if path.suffix.lower() == ".csv":
        return list(_csv(path, subject))
    if path.suffix.lower() == ".json":
        return list(_export(path, subject))
    choices = ", ".join(sorted(registry.all("event_source")))
    raise EventError(
        f"{path.name}: unknown file type '{path.suffix}'",
        hint=f"use .jsonl, .csv or a `satchel export` .json, or --source one of: {choices}",
    )


def _check_folder(path: Path, registry: Registry, source: str | None) -> None:
    folders = sorted(
        name
        for name, reg in registry.all("event_source").items()
        if getattr(reg.spec.factory, "reads_folders", False)
    )
    readers = ", ".join(folders) or "none is installed"
    if source is None:
        raise EventError(
            f"{path} is a folder; say which event source reads it",
            hint=f"pass --source (sources that read folders: {readers}), or import a file",
        )
    if source not in folders:
        registry.get("event_source", source)  # an unknown source: its own error, listing the choices
        raise EventError(
            f"{path} is a folder, and event source '{source}' reads files only",
            hint=f"pass one of its files; sources that read folders: {readers}",
        )


def _from_source(
    path: Path, registry: Registry, source: str, options: Mapping[str, Any] | None = None
) -> list[SourcedEvent]:
    """A registered source's events; undecodable text and invalid events are errors, not crashes."""
    spec = registry.get("event_source", source)
    try:
        validated = spec.options.model_validate(dict(options or {}))
    except ValidationError as e:
        err = e.errors()[0]
        name = ".".join(map(str, err["loc"])) or "options"
        raise EventError(
            f"event source '{source}': option '{name}': {err['msg']}",
            hint=f"its options: {', '.join(spec.options.model_fields) or 'none'} (see `satchel config schema`)",
        ) from None
    try:
        return list(spec.create(validated).read(path))
    except UnicodeDecodeError as e:
        raise EventError(
            f"{path}: byte {e.start} is not valid {e.encoding} (event source '{source}')", hint=_UTF8_HINT
        ) from None
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(map(str, err["loc"])) or "event"
        raise EventError(
            f"{path}: field '{field}': {err['msg']} (event source '{source}')",
            hint=f"check the file against what '{source}' expects",
        ) from None


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    text = decode_text(path.read_bytes(), path.name)
    yield from enumerate(text.split("\n"), start=1)


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise EventError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
    except (ValueError, RecursionError) as e:  # an integer of over 4300 digits; nesting beyond the stack
        raise EventError(f"{where}: not valid JSON here ({type(e).__name__}: {str(e)[:80]})") from None


def _jsonl(path: Path, subject: str | None) -> Iterator[SourcedEvent]:
    name, learners = path.name, _Learners()
    for n, line in _lines(path):
        if not line.strip():
            continue
        where = f"{name} line {n}"
        raw = _json(line, where)
        if not isinstance(raw, dict):
            raise EventError(f"{where}: expected a JSON object, got {type(raw).__name__}")
        who = raw.pop("subject", None)
        yield SourcedEvent(learners.check(subject or who, where), parse_event(raw, where), n)


class _Learners:
    """:func:`check_subject` once per distinct learner id of a file (files hold many events per learner)."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def check(self, subject: object, where: str) -> str:
        if isinstance(subject, str) and subject in self._seen:
            return subject
        self._seen.add(check_subject(subject, where))
        return subject  # type: ignore[return-value]


def _csv(path: Path, subject: str | None) -> Iterator[SourcedEvent]:
    text = decode_text(path.read_bytes(), path.name)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    learners = _Learners()
    try:
        fieldnames = reader.fieldnames or ()
        required = _FIXED[1:3] if subject else _FIXED[:3]
        missing = [c for c in required if c not in fieldnames]
        if missing:
            raise EventError(
                f"{path.name} line 1: missing column(s) {missing}",
                hint="the header needs subject,type,time (and optionally id) plus data columns",
            )
        for row in reader:
            n = reader.line_num
            where = f"{path.name} line {n}"
            if None in row:
                raise EventError(f"{where}: more cells than header columns")
            data = {k: v for k, v in row.items() if k not in _FIXED and v not in ("", None)}
            raw: dict[str, Any] = {"type": row["type"], "time": row["time"], "data": data}
            if row.get("id"):
                raw["id"] = row["id"]
            yield SourcedEvent(
                learners.check(subject or row.get("subject"), where), parse_event(raw, where), n
            )
    except csv.Error as e:
        raise EventError(
            f"{path.name} line {reader.line_num}: not valid CSV ({e})",
            hint="quote cells that hold commas, quotes or line breaks",
        ) from None


def _export(path: Path, subject: str | None) -> Iterator[SourcedEvent]:
    """The events of a ``satchel export`` file (for ``subject`` when given), each with the line it starts on."""
    text = decode_text(path.read_bytes(), path.name)
    doc = _json(text, path.name)
    if not isinstance(doc, dict) or not isinstance(doc.get("events"), list) or "subject" not in doc:
        raise EventError(
            f"{path.name}: not a `satchel export` file (a JSON object with 'subject' and 'events')",
            hint=f"{_EXPORT_HINT}; other events go in .jsonl or .csv files",
        )
    who = check_subject(doc["subject"], f"{path.name} field 'subject'")
    for n, raw in zip(_element_lines(text), doc["events"]):
        where = f"{path.name} line {n}"
        if not isinstance(raw, dict):
            raise EventError(
                f"{where}: expected an event object, got {type(raw).__name__}", hint=_EXPORT_HINT
            )
        yield SourcedEvent(subject or who, parse_event(raw, where, hint=_EXPORT_HINT), n)


def _element_lines(text: str) -> list[int]:
    """The line each element of the top-level ``events`` array starts on (``text`` is valid JSON;
    like ``json.loads``, the last of repeated ``events`` keys counts)."""
    decoder = json.JSONDecoder()
    starts: list[int] = []
    i = _skip(text, text.index("{") + 1)
    while text[i] != "}":
        key, i = decoder.raw_decode(text, i)
        i = _skip(text, _skip(text, i) + 1)  # past ':'
        if key == "events" and text[i] == "[":
            starts = []
            i = _skip(text, i + 1)
            while text[i] != "]":
                starts.append(text.count("\n", 0, i) + 1)
                i = _skip(text, decoder.raw_decode(text, i)[1])
                if text[i] == ",":
                    i = _skip(text, i + 1)
            i += 1
        else:
            i = decoder.raw_decode(text, i)[1]
        i = _skip(text, i)
        if text[i] == ",":
            i = _skip(text, i + 1)
    return starts


def _skip(text: str, i: int) -> int:
    while text[i] in " \t\r\n":
        i += 1
    return i
