"""Learner events: the only personal data that enters satchel."""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timezone
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

#: the instants an event may have (UTC): wide for any real learner, narrow enough that date
#: arithmetic on them (a day later, a zone's local date) never leaves the calendar
EARLIEST = datetime(1900, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)
#: the largest integer a payload may hold: what every JSON reader keeps exactly (2**53)
MAX_INT = 2**53


def _finite(value: str | int | float | bool | None) -> str | int | float | bool | None:
    if isinstance(value, float) and not math.isfinite(value):
        raise PydanticCustomError(
            "finite_number",
            "{value} is not a finite number; record a number or leave the field out",
            {"value": value},
        )
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        raise PydanticCustomError("int_range", "the integer is beyond ±2**53, which JSON cannot keep exactly")
    return value


Scalar = Annotated[str | int | float | bool | None, AfterValidator(_finite)]


def _new_id() -> str:
    return uuid.uuid4().hex


class Event(BaseModel):
    """One thing that happened: a typed payload at a time-zone-aware instant.

    ``id`` makes ingestion idempotent: recording the same id twice stores it once.
    ``data`` is validated against the payload model of the event type it names; its numbers are
    finite (no NaN or infinity) and ``time`` lies between :data:`EARLIEST` and :data:`LATEST`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    time: AwareDatetime
    data: dict[str, Scalar] = Field(default_factory=dict)
    id: str = Field(default_factory=_new_id, min_length=1, max_length=128)

    @field_validator("time")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        try:
            utc = v.astimezone(timezone.utc)
        except OverflowError:  # e.g. 0001-01-01T00:00+01:00 falls before the first representable day
            utc = None
        if utc is None or not EARLIEST <= utc <= LATEST:
            raise PydanticCustomError(
                "time_range",
                "{time} is outside the years {first}-{last} (UTC); check the date and its offset",
                {"time": v.isoformat(), "first": EARLIEST.year, "last": LATEST.year},
            )
        return utc
