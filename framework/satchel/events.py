"""Learner events: the only personal data that enters satchel."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Union

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

Scalar = Union[str, int, float, bool, None]


def _new_id() -> str:
    return uuid.uuid4().hex


class Event(BaseModel):
    """One thing that happened: a typed payload at a time-zone-aware instant.

    ``id`` makes ingestion idempotent: recording the same id twice stores it once.
    ``data`` is validated against the payload model of the event type it names.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    time: AwareDatetime
    data: dict[str, Scalar] = Field(default_factory=dict)
    id: str = Field(default_factory=_new_id, min_length=1, max_length=128)

    @field_validator("time")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return v.astimezone(timezone.utc)
