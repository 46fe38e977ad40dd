"""Answer text → features, computed on the device (no network, no downloaded model).

Sixteen measures compare the student's answer with the reference answer (content-word recall
and precision, bigram overlap, character n-gram similarity, subsequence match, length, negation,
numbers, words parroted from the question), followed by signed hashed word uni/bigrams (32) and
character trigrams (16) of the answer itself, which let a teacher's model pick up the words
that matter on their questions. Labels are the teacher's score divided by the scale maximum.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from satchel.dataset import Dataset, FeatureSchema
from satchel.events import Event
from satchel.task import Rows
from satchel_plugins import _text
from satchel_plugins.rubric.events import ANSWER_GRADED, ANSWER_SUBMITTED

SIMILARITY: tuple[str, ...] = (
    "content_recall", "content_precision", "content_f1", "bigram_recall", "bigram_precision",
    "char3_cosine", "char4_recall", "lcs_ratio", "length", "length_ratio", "negations",
    "negation_mismatch", "question_parroting", "novel_content", "number_mismatch", "empty",
)
WORD_BUCKETS, CHAR_BUCKETS = 32, 16
FEATURES: tuple[str, ...] = (
    SIMILARITY
    + tuple(f"word_hash_{i:02d}" for i in range(WORD_BUCKETS))
    + tuple(f"char_hash_{i:02d}" for i in range(CHAR_BUCKETS))
)
SCHEMA = FeatureSchema(FEATURES, version="answer_text/1")


class AnswerFeaturizerOptions(BaseModel):
    """Options of the ``answer_text`` featurizer (none yet; unknown keys are refused)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class AnswerSamples:
    """Graded answers as training data, with their ids, questions and rubric scale."""

    data: Dataset
    answer_ids: tuple[str, ...]
    questions: tuple[str, ...]
    scale_max: np.ndarray


@dataclass(frozen=True)
class _Reference:
    toks: list[str]
    content: list[str]
    bigrams: list[str]
    char3: Counter[str]
    char4: set[str]
    negated: bool
    numbers: set[str]
    question: set[str]


def _reference(reference: str, question_text: str | None) -> _Reference:
    toks = _text.tokens(reference)
    stems = [_text.stem(t) for t in toks]
    return _Reference(
        toks, _text.content_stems(toks), _text.bigrams(stems), _text.char_ngrams(reference, 3),
        set(_text.char_ngrams(reference, 4)), _text.negation_count(toks) > 0,
        {t for t in toks if t.isdigit()}, set(_text.content_stems(_text.tokens(question_text or ""))),
    )


def answer_features(reference: str, text: str, question_text: str | None = None,
                    _ref: _Reference | None = None) -> np.ndarray:
    """The feature vector (float64, ``len(FEATURES)``) of one answer."""
    ref = _ref or _reference(reference, question_text)
    toks = _text.tokens(text)
    stems = [_text.stem(t) for t in toks]
    content = _text.content_stems(toks)
    grams = _text.bigrams(stems)
    recall = _text.overlap(content, ref.content)
    precision = _text.overlap(ref.content, content)
    f1 = 2 * recall * precision / (recall + precision) if recall + precision > 0 else 0.0
    char4 = set(_text.char_ngrams(text, 4))
    ref_set = set(ref.content)
    content_set = set(content)
    parrot = len((content_set & ref.question) - ref_set) / len(content_set) if content_set else 0.0
    novel = len(content_set - ref_set - ref.question) / len(content_set) if content_set else 0.0
    negations = _text.negation_count(toks)
    numbers = {t for t in toks if t.isdigit()}
    similarity = np.array([
        recall, precision, f1,
        _text.overlap(grams, ref.bigrams), _text.overlap(ref.bigrams, grams),
        _text.cosine(_text.char_ngrams(text, 3), ref.char3),
        len(char4 & ref.char4) / len(ref.char4) if ref.char4 else 0.0,
        _text.lcs_length(stems, [_text.stem(t) for t in ref.toks]) / max(len(ref.toks), 1),
        min(np.log1p(len(toks)) / np.log(51.0), 1.5),
        float(np.clip(np.log((len(toks) + 1.0) / (len(ref.toks) + 1.0)) / 2.0, -1.5, 1.5)),
        min(negations, 3) / 3.0,
        float((negations > 0) != ref.negated),
        parrot, novel,
        float(bool(numbers - ref.numbers)),
        float(not content),
    ])
    words = _text.hashed(stems + grams, WORD_BUCKETS)
    chars = _text.hashed(_text.char_ngrams(text, 3).elements(), CHAR_BUCKETS)
    return np.concatenate([similarity, words, chars])


def featurize(answers: Sequence[tuple[str, str, str | None]]) -> np.ndarray:
    """Feature rows of ``(reference, text, question_text)`` triples, sharing work per reference."""
    cache: dict[tuple[str, str | None], _Reference] = {}
    out = np.zeros((len(answers), len(FEATURES)), np.float32)
    for i, (reference, text, question_text) in enumerate(answers):
        key = (reference, question_text)
        if key not in cache:
            cache[key] = _reference(reference, question_text)
        out[i] = answer_features(reference, text, question_text, cache[key])
    return out


class AnswerFeaturizer:
    """Featurizer ``answer_text``: graded answers for training, ungraded ones to suggest grades for."""

    schema: FeatureSchema = SCHEMA

    def __init__(self, options: AnswerFeaturizerOptions | None = None) -> None:
        self.options = options or AnswerFeaturizerOptions()

    def samples(self, events: Sequence[Event], *, now: datetime) -> AnswerSamples:
        answers, grades = _collect(events, now)
        ids = [a for a in answers if a in grades]
        x = featurize([_triple(answers[a]) for a in ids])
        scale = np.array([float(grades[a].data.get("scale_max", 1)) for a in ids])
        y = np.array([float(grades[a].data["score"]) for a in ids]) / np.maximum(scale, 1.0)
        data = Dataset.of(x.reshape(len(ids), len(FEATURES)), y, schema=SCHEMA)
        return AnswerSamples(data, tuple(ids), tuple(str(answers[a].data["question"]) for a in ids), scale)

    def training_data(self, events: Sequence[Event], *, now: datetime) -> Dataset:
        return self.samples(events, now=now).data

    def rows(self, events: Sequence[Event], *, now: datetime) -> Rows:
        """One row per answer not graded yet."""
        answers, grades = _collect(events, now)
        ids = tuple(a for a in answers if a not in grades)
        x = featurize([_triple(answers[a]) for a in ids]).reshape(len(ids), len(FEATURES))
        context = tuple({"answer_id": a, "question": str(answers[a].data["question"])} for a in ids)
        return Rows(ids, x, context)


def _triple(e: Event) -> tuple[str, str, str | None]:
    q = e.data.get("question_text")
    return str(e.data["reference"]), str(e.data["text"]), None if q is None else str(q)


def _collect(events: Sequence[Event], now: datetime) -> tuple[dict[str, Event], dict[str, Event]]:
    """Answers and their latest grades (a regrade replaces the earlier grade), up to ``now``."""
    answers: dict[str, Event] = {}
    grades: dict[str, Event] = {}
    for e in sorted(events, key=lambda e: e.time):
        if e.time > now:
            continue
        if e.type == ANSWER_SUBMITTED:
            answers[str(e.data["answer_id"])] = e
        elif e.type == ANSWER_GRADED:
            grades[str(e.data["answer_id"])] = e
    return answers, {a: g for a, g in grades.items() if a in answers}
