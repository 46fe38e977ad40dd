"""One review-log row → one ``word_reviewed`` event, shared by the Anki CSV and collection importers.

Anki's revlog ``type``: 0 learn, 1 review, 2 relearn, 3 filtered (an answer in a filtered deck; the
log does not say whether the card was learning or in review), 4 manual and 5 rescheduled (ease 0:
"set due date"/"forget", not an answer). Rows with ease 0, and types 4 and 5, are not reviews.
The event id derives from (subject, card, review time): an Anki review's id is its time in ms, so a
review imported from the CSV and again from the collection is stored once.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from typing import Literal

from pydantic import ValidationError

from satchel.errors import EventError
from satchel.events import Event
from satchel.events.ingest import parse_event
from satchel_plugins.language.events import WORD_REVIEWED, WordReviewed

Kind = Literal["learn", "review", "relearn"]
ANKI_TYPES: dict[int, Kind | None] = {0: "learn", 1: "review", 2: "relearn", 3: None}
NOT_REVIEWS = frozenset({4, 5})  # manual and bulk reschedules
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def from_ms(ms: int, where: str, field: str, hint: str) -> datetime:
    """An epoch-milliseconds instant, exactly (no float rounding); an EventError beyond the calendar."""
    try:
        return _EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        raise EventError(
            f"{where}: field {field!r}: {ms} ms is not a time in the calendar", hint=hint
        ) from None


def review_event(
    subject: str,
    card: str,
    rating: int,
    when: datetime,
    response_ms: float | None,
    kind: Kind | None,
    where: str,
    hint: str,
) -> Event:
    """The ``word_reviewed`` event of one answer; an EventError naming ``where`` and the field if invalid."""
    try:
        payload = WordReviewed(item=card, rating=rating, response_ms=response_ms, kind=kind)
    except ValidationError as e:
        first = e.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "rating"
        raise EventError(f"{where}: field {field!r}: {first['msg']}", hint=hint) from None
    event_id = hashlib.sha256(f"anki|{subject}|{card}|{when.isoformat()}".encode()).hexdigest()[:32]
    return parse_event(
        {"type": WORD_REVIEWED, "time": when, "data": payload.model_dump(exclude_none=True), "id": event_id},
        where,
        hint=hint,
    )
