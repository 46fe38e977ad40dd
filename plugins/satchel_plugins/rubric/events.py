"""Event types of a grading assistant: a student's answer, and the teacher's grade for it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from satchel.plugin.records import EventTypeSpec

ANSWER_SUBMITTED = "answer_submitted"
ANSWER_GRADED = "answer_graded"


class AnswerSubmitted(BaseModel):
    """A student's answer ``text`` to ``question``, with the reference answer it is graded against
    (empty when the gradebook has none: the question's text and the teacher's grades stand in) and,
    when known, the question's grading scale ``0..scale_max``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    answer_id: str = Field(min_length=1, max_length=128)
    question: str = Field(min_length=1, max_length=128, description="question id")
    reference: str = Field("", max_length=4000, description="the reference answer")
    text: str = Field(max_length=4000, description="the student's answer")
    question_text: str | None = Field(None, max_length=4000)
    scale_max: int | None = Field(None, ge=1, le=100, description="top of the question's 0..K scale")


class AnswerGraded(BaseModel):
    """The teacher's ``score`` for an answer on a 0..``scale_max`` rubric (1 = binary)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    answer_id: str = Field(min_length=1, max_length=128)
    score: float = Field(ge=0)
    scale_max: int = Field(1, ge=1, le=100)

    @model_validator(mode="after")
    def _on_scale(self) -> AnswerGraded:
        if self.score > self.scale_max:
            raise ValueError(f"score {self.score} is above scale_max {self.scale_max}")
        return self


def event_type_specs() -> tuple[EventTypeSpec, ...]:
    return (
        EventTypeSpec(
            ANSWER_SUBMITTED,
            AnswerSubmitted,
            ("free_text", "learning_performance"),
            "a student's free-text answer to a question",
        ),
        EventTypeSpec(ANSWER_GRADED, AnswerGraded, ("assessment",), "a teacher's grade of an answer"),
    )
