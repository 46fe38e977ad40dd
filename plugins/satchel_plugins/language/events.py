"""The ``word_reviewed`` event: one flashcard review with its outcome."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from satchel.plugin.records import EventTypeSpec

WORD_REVIEWED = "word_reviewed"


class WordReviewed(BaseModel):
    """A review of ``item``: ``rating`` 1-4 (Again/Hard/Good/Easy) and/or ``recalled``.

    When only the rating is given, recalled means rating > 1; when both are given they must agree.
    ``kind`` is the card's phase when the log records it (Anki's revlog type): a learning step,
    a review, or a relearning step after a lapse.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    item: str = Field(min_length=1, max_length=128, description="the card or word id")
    rating: int | None = Field(None, ge=1, le=4)
    recalled: bool | None = None
    response_ms: float | None = Field(None, ge=0, description="time to answer, milliseconds")
    kind: Literal["learn", "review", "relearn"] | None = Field(
        None, description="learning step, review or relearning"
    )

    @model_validator(mode="after")
    def _outcome(self) -> WordReviewed:
        if self.rating is None and self.recalled is None:
            raise ValueError("give the rating (1-4) or recalled (true/false)")
        if self.rating is not None and self.recalled is not None and self.recalled != (self.rating > 1):
            raise ValueError(
                f"rating {self.rating} contradicts recalled={self.recalled} (rating 1 means forgotten)"
            )
        return self


def event_type_specs() -> tuple[EventTypeSpec, ...]:
    return (
        EventTypeSpec(
            WORD_REVIEWED, WordReviewed, ("learning_performance",), "a vocabulary item was reviewed"
        ),
    )
