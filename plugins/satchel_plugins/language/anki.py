"""Review logs as CSV (``anki_revlog_csv``), in the layouts learners have, and a writer.

Layouts, told apart by the header (names case-insensitive):

- Anki's ``revlog`` table as exported: ``id,cid,usn,ease,ivl,lastIvl,factor,time,type`` (``id`` =
  review time in ms, ``time`` = answer time in ms, ``type`` 0-4); only ``id,cid,ease`` are required.
- FSRS optimizer: ``card_id, review_time`` (ms) ``, review_rating[, review_state][, review_duration]``;
  ``review_state`` 0 new, 1 learning, 2 review, 3 relearning (4: filtered).
- py-fsrs ``ReviewLog``: ``card_id, rating, review_datetime`` (ISO 8601) ``[, review_duration]``.
- satchel's own (what :func:`write_anki_csv` writes): ``card_id, rating, review_time[, duration]``.

Files without a header are read as Anki's revlog (9 columns) or the FSRS optimizer's order
(``card_id, review_time, review_rating, review_state, review_duration``). Times are epoch ms or
ISO 8601 with a zone. Rating 0 (a reschedule) and Anki's manual types are not reviews.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from satchel.errors import EventError
from satchel.events import MAX_INT, Event
from satchel.events.ingest import decode_text
from satchel.model.task import SourcedEvent
from satchel_plugins.language.events import WORD_REVIEWED
from satchel_plugins.language.review_log import ANKI_TYPES, NOT_REVIEWS, Kind, from_ms, review_event

REVLOG = ("id", "cid", "usn", "ease", "ivl", "lastivl", "factor", "time", "type")
FSRS = ("card_id", "review_time", "review_rating", "review_state", "review_duration")
LAYOUTS = (
    "Anki revlog: id,cid,usn,ease,ivl,lastIvl,factor,time,type (id,cid,ease required; header optional)",
    "FSRS optimizer: card_id,review_time,review_rating[,review_state][,review_duration] (header optional)",
    "py-fsrs: card_id,rating,review_datetime[,review_duration]",
    "satchel: card_id,rating,review_time[,duration]",
)
# headerless files: the layout by width, and its columns for card, rating, time, duration, kind
_HEADERLESS = {
    len(REVLOG): (REVLOG, ("cid", "ease", "id", "time", "type"), True),
    len(FSRS): (FSRS, ("card_id", "review_rating", "review_time", "review_duration", "review_state"), False),
}
_FSRS_STATES: dict[int, Kind | None] = {0: "learn", 1: "learn", 2: "review", 3: "relearn", 4: None}
_FIX = "export the log unchanged, or write it in one of the layouts: " + "; ".join(LAYOUTS)


class AnkiImportOptions(BaseModel):
    """Options of the ``anki_revlog_csv`` and ``anki_collection`` importers."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    subject: str = Field("me", min_length=1, description="subject the review log belongs to")


@dataclass(frozen=True)
class _Columns:
    """Where each field is: the column index and the file's name for it (for messages)."""

    card: tuple[int, str]
    rating: tuple[int, str]
    time: tuple[int, str]
    duration: tuple[int, str] | None
    kind: tuple[int, str] | None
    anki_types: bool  # kind holds Anki's revlog type (else FSRS review_state)


class AnkiReviewImporter:
    """Reads a review-log CSV (any layout above) into ``word_reviewed`` events."""

    def __init__(self, options: AnkiImportOptions | None = None) -> None:
        self.options = options or AnkiImportOptions()

    def read(self, path: Path) -> Iterator[SourcedEvent]:
        path = Path(path)
        raw = _read_bytes(path)
        text = decode_text(
            raw,
            str(path),
            hint="this is not a CSV review log; for an Anki collection "
            "(.anki2/.colpkg/.apkg) use --source anki_collection",
        )
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            first = next(reader, [])
            columns, has_header = _columns(path, [c.strip() for c in first])
            rows = [(reader.line_num, row) for row in reader if row]
        except csv.Error as e:
            raise EventError(f"{path}:{reader.line_num}: not valid CSV ({e})", hint=_FIX) from None
        if not has_header:
            rows.insert(0, (1, first))
        for line, row in rows:
            event = self._event(f"{path}:{line}", row, columns)
            if event is not None:
                yield SourcedEvent(self.options.subject, event, line)

    def _event(self, where: str, row: list[str], cols: _Columns) -> Event | None:
        def cell(at: tuple[int, str] | None) -> str:
            return row[at[0]].strip() if at is not None and at[0] < len(row) else ""

        card = cell(cols.card)
        if not card:
            raise EventError(f"{where}: field {cols.card[1]!r} is empty", hint=_FIX)
        rating = _integer(where, cols.rating[1], cell(cols.rating))
        kind_name = cols.kind[1] if cols.kind is not None else "kind"
        kind_code = _integer(where, kind_name, cell(cols.kind)) if cell(cols.kind) else None
        if rating == 0 or (cols.anki_types and kind_code in NOT_REVIEWS):
            return None
        kinds = ANKI_TYPES if cols.anki_types else _FSRS_STATES
        if kind_code is not None and kind_code not in kinds:
            valid = sorted({*kinds, *(NOT_REVIEWS if cols.anki_types else ())})
            raise EventError(f"{where}: field {kind_name!r}: {kind_code} is not one of {valid}", hint=_FIX)
        kind = None if kind_code is None else kinds[kind_code]
        when = _instant(where, cols.time[1], cell(cols.time))
        duration = cell(cols.duration)
        response = float(_integer(where, cols.duration[1], duration)) if duration else None  # type: ignore[index]
        return review_event(self.options.subject, card, rating, when, response, kind, where, _FIX)


def _columns(path: Path, first: list[str]) -> tuple[_Columns, bool]:
    """The layout of a file from its first row; a clear error listing what was found otherwise."""
    names = [c.lower() for c in first]

    def at(*aliases: str) -> tuple[int, str] | None:
        return next(((names.index(a), first[names.index(a)]) for a in aliases if a in names), None)

    if "cid" in names:
        found = dict(card=at("cid"), rating=at("ease"), time=at("id"), duration=at("time"), kind=at("type"))
        required = ("card", "rating", "time")
        anki = True
    elif "card_id" in names:
        found = dict(
            card=at("card_id"),
            rating=at("review_rating", "rating"),
            time=at("review_time", "review_datetime"),
            duration=at("review_duration", "duration"),
            kind=at("review_state"),
        )
        required = ("card", "rating", "time")
        anki = False
    elif first and all(re.fullmatch(r"-?\d+(\.\d+)?", c) for c in first) and len(first) in _HEADERLESS:
        layout, roles, anki = _HEADERLESS[len(first)]
        card, rating, time, duration, kind = ((layout.index(r), r) for r in roles)
        return _Columns(card, rating, time, duration, kind, anki_types=anki), False
    else:
        found, required, anki = {}, ("card", "rating", "time"), False
    missing = [r for r in required if found.get(r) is None]
    if missing:
        raise EventError(
            f"{path}:1: missing column(s) for {', '.join(missing)}; columns found: "
            f"{', '.join(first) or '(none)'}",
            hint="supported layouts: " + "; ".join(LAYOUTS),
        )
    return _Columns(anki_types=anki, **found), True  # type: ignore[arg-type]


def _read_bytes(path: Path) -> bytes:
    """The file's bytes; a collection or package given to the CSV importer gets pointed at the right one."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise EventError(f"{path}: cannot be read ({e.strerror})") from None
    if raw.startswith(b"PK\x03\x04") or raw.startswith(b"SQLite format 3"):
        raise EventError(
            f"{path}: an Anki collection or package, not a CSV review log",
            hint="import it with --source anki_collection",
        )
    return raw


def _integer(where: str, field: str, text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise EventError(f"{where}: field {field!r}: {text!r} is not a number", hint=_FIX) from None
    if not math.isfinite(value) or abs(value) > MAX_INT:
        raise EventError(f"{where}: field {field!r}: {text!r} is not a finite whole number", hint=_FIX)
    if value != int(value):
        raise EventError(f"{where}: field {field!r}: {text!r} is not a whole number", hint=_FIX)
    return int(value)


def _instant(where: str, field: str, text: str) -> datetime:
    if re.fullmatch(r"\d+", text):
        if len(text) > 18:
            raise EventError(
                f"{where}: field {field!r}: {text[:24]!r}… is not a time in the calendar", hint=_FIX
            )
        return from_ms(int(text), where, field, _FIX)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise EventError(
            f"{where}: field {field!r}: {text!r} is neither epoch ms nor ISO 8601", hint=_FIX
        ) from None
    if when.tzinfo is None:
        raise EventError(f"{where}: field {field!r}: {text!r} has no time zone", hint=_FIX)
    return when


def write_anki_csv(path: Path, events: Iterable[Event]) -> int:
    """Write ``word_reviewed`` events as a review log in satchel's layout; returns the number of rows."""
    n = 0
    with Path(path).open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["card_id", "rating", "review_time", "duration"])
        for e in events:
            if e.type != WORD_REVIEWED:
                continue
            rating = e.data.get("rating")
            if rating is None:
                rating = 3 if e.data.get("recalled") else 1
            duration = e.data.get("response_ms")
            out.writerow(
                [
                    e.data["item"],
                    int(rating),
                    round(e.time.timestamp() * 1000),
                    "" if duration is None else round(float(duration)),
                ]
            )
            n += 1
    return n
