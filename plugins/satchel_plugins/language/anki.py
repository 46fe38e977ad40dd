"""Anki-style review logs as CSV: an importer (``anki_revlog_csv``) and a writer.

Columns (header names, case-insensitive; Anki revlog names accepted as aliases):
``card_id`` (``cid``), ``rating`` (``ease``, 1-4), ``review_time`` (``id``: epoch milliseconds
as in Anki's revlog, or ISO 8601 with a zone), optional ``duration`` (``time``, milliseconds).
Rows with rating 0 (Anki's manual rescheduling) are skipped. Event ids derive from
(subject, card, review time), so importing a file twice stores it once.
"""

from __future__ import annotations

import csv
import hashlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from satchel.errors import EventError
from satchel.events import Event
from satchel.task import SourcedEvent
from satchel_plugins.language.events import WORD_REVIEWED, WordReviewed

COLUMNS: dict[str, tuple[str, ...]] = {
    "card_id": ("card_id", "cid"),
    "rating": ("rating", "ease"),
    "review_time": ("review_time", "id"),
    "duration": ("duration", "time"),
}
_FIX = "write the log as CSV with columns card_id, rating (1-4), review_time (epoch ms or ISO 8601), duration (ms)"


class AnkiImportOptions(BaseModel):
    """Options of the ``anki_revlog_csv`` importer."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    subject: str = Field("me", min_length=1, description="subject the review log belongs to")


class AnkiReviewImporter:
    """Reads an Anki-style review-log CSV into ``word_reviewed`` events."""

    def __init__(self, options: AnkiImportOptions | None = None) -> None:
        self.options = options or AnkiImportOptions()

    def read(self, path: Path) -> Iterator[SourcedEvent]:
        path = Path(path)
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = [h.strip().lower() for h in next(reader, [])]
            where = {name: next((header.index(a) for a in aliases if a in header), None)
                     for name, aliases in COLUMNS.items()}
            missing = [name for name in ("card_id", "rating", "review_time") if where[name] is None]
            if missing:
                raise EventError(f"{path}:1: missing column(s) {', '.join(missing)}", hint=_FIX)
            for row in reader:
                if not row:
                    continue
                event = self._event(path, reader.line_num, row, where)
                if event is not None:
                    yield SourcedEvent(self.options.subject, event, reader.line_num)

    def _event(self, path: Path, line: int, row: list[str], where: dict[str, int | None]) -> Event | None:
        def cell(name: str) -> str:
            i = where[name]
            if i is None or i >= len(row):
                return ""
            return row[i].strip()

        card = cell("card_id")
        if not card:
            raise EventError(f"{path}:{line}: field 'card_id' is empty", hint=_FIX)
        rating = _number(path, line, "rating", cell("rating"))
        if rating == 0:
            return None
        if rating != int(rating):
            raise EventError(f"{path}:{line}: field 'rating': {rating} is not a whole number 1-4", hint=_FIX)
        when = _instant(path, line, cell("review_time"))
        duration = cell("duration")
        response = _number(path, line, "duration", duration) if duration else None
        try:
            payload = WordReviewed(item=card, rating=int(rating), response_ms=response)
        except ValidationError as e:
            first = e.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "rating"
            raise EventError(f"{path}:{line}: field {field!r}: {first['msg']}", hint=_FIX) from None
        event_id = hashlib.sha256(f"anki|{self.options.subject}|{card}|{when.isoformat()}".encode()).hexdigest()[:32]
        return Event(type=WORD_REVIEWED, time=when, data=payload.model_dump(exclude_none=True), id=event_id)


def _number(path: Path, line: int, field: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise EventError(f"{path}:{line}: field {field!r}: {text!r} is not a number", hint=_FIX) from None


def _instant(path: Path, line: int, text: str) -> datetime:
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000.0, timezone.utc)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise EventError(f"{path}:{line}: field 'review_time': {text!r} is neither epoch ms nor ISO 8601",
                         hint=_FIX) from None
    if when.tzinfo is None:
        raise EventError(f"{path}:{line}: field 'review_time': {text!r} has no time zone", hint=_FIX)
    return when


def write_anki_csv(path: Path, events: Iterable[Event]) -> int:
    """Write ``word_reviewed`` events as an Anki-style review log; returns the number of rows."""
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
            out.writerow([e.data["item"], int(rating), int(round(e.time.timestamp() * 1000)),
                          "" if duration is None else int(round(float(duration)))])
            n += 1
    return n
