"""Answer text → features, computed on the device (no network, no downloaded model).

Two kinds of measures, all independent of the grading scale:

- against the reference answer (:data:`REFERENCE`): alignment of the answer's content words to
  the reference's and back (exact, same stem, or a similar spelling by character trigrams),
  weighted by IDF over the answers at hand, with the words the question already gives demoted;
  bigram, character n-gram, TF-IDF and subsequence overlap, length, negation, numbers, parroting;
- against this teacher's own grades (:data:`TEACHER`): the grades of the most similar answers to
  the same question that the teacher had graded *before* (k nearest neighbours by TF-IDF and
  character-trigram cosine), similarity to their full- and no-credit answers, and the question's
  and the teacher's mean credit so far. A training sample sees only grades known before its own
  (``Dataset.times``), exactly what the device knew when it suggested that grade.

The last column is ``1 / scale_max`` of the answer's scale (0 when unknown: the task's own scale).
Labels (three columns) are the fraction of full credit and the edges of the grade's interval on
that fraction (see :mod:`satchel_plugins.rubric.task`).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from satchel.events import Event
from satchel.model.dataset import Dataset, FeatureSchema
from satchel.model.export_contract import FeatureDoc, SampleEvents
from satchel.model.task import Rows
from satchel_plugins import _text
from satchel_plugins.rubric.events import ANSWER_GRADED, ANSWER_SUBMITTED

REFERENCE: tuple[str, ...] = (
    "align_recall",
    "align_precision",
    "align_f1",
    "exact_recall",
    "bigram_recall",
    "char3_cosine",
    "char4_recall",
    "tfidf_cosine",
    "lcs_ratio",
    "length",
    "length_ratio",
    "negation_mismatch",
    "question_parroting",
    "novel_content",
    "number_mismatch",
    "empty",
)
TEACHER: tuple[str, ...] = (
    "knn_credit",
    "nearest_credit",
    "nearest_similarity",
    "full_credit_similarity",
    "no_credit_similarity",
    "question_credit",
    "question_graded",
    "teacher_credit",
    "teacher_graded",
)
FEATURES: tuple[str, ...] = REFERENCE + TEACHER + ("inverse_scale",)
SCHEMA = FeatureSchema(FEATURES, version="answer_text/2")
SCALE_COLUMN = FEATURES.index("inverse_scale")
TEACHER_COLUMNS = np.array([FEATURES.index(n) for n in TEACHER])
QUESTION_GRADED_COLUMN = FEATURES.index("question_graded")
#: ``question_graded`` = min(log1p(n) / QUESTION_GRADED_DIVISOR, 1)
QUESTION_GRADED_DIVISOR = float(np.log(101.0))
#: an interval edge standing for -inf/+inf on the fraction of credit
OPEN_EDGE = 8.0
_REF = (
    "Against the reference answer; tokens, stems and content words by satchel_plugins._text "
    "(lowercase word tokens, a light suffix stemmer, stopwords removed). "
)
_KNN = (
    "From this teacher's grades known before the answer (same question), by answer similarity = mean of "
    "IDF-weighted word cosine and character-trigram cosine. "
)
FEATURE_DOCS: tuple[FeatureDoc, ...] = (
    FeatureDoc(
        "align_recall",
        _REF + "IDF-weighted share of the reference's content words (minus the question's) "
        "aligned to an answer word: exact, same stem or trigram-similar.",
        "none (0..1)",
    ),
    FeatureDoc("align_precision", "As align_recall, answer words aligned to the reference.", "none (0..1)"),
    FeatureDoc("align_f1", "Harmonic mean of align_recall and align_precision.", "none (0..1)"),
    FeatureDoc(
        "exact_recall", "Share of the reference's content stems present in the answer.", "none (0..1)"
    ),
    FeatureDoc(
        "bigram_recall", "Share of the reference's stem bigrams present in the answer.", "none (0..1)"
    ),
    FeatureDoc("char3_cosine", "Cosine of character-trigram counts, answer vs reference.", "none (0..1)"),
    FeatureDoc(
        "char4_recall", "Share of the reference's distinct character 4-grams in the answer.", "none (0..1)"
    ),
    FeatureDoc(
        "tfidf_cosine", "Cosine of IDF-weighted content-word counts, answer vs reference.", "none (0..1)"
    ),
    FeatureDoc("lcs_ratio", "Longest common stem subsequence / reference tokens.", "none"),
    FeatureDoc(
        "length", "Answer tokens n.", "min(log1p(n) / ln(101), 1.5)", {"divisor": float(np.log(101.0))}
    ),
    FeatureDoc("length_ratio", "ln((answer tokens + 1) / (reference tokens + 1)).", "clip(v / 2, -1.5, 1.5)"),
    FeatureDoc(
        "negation_mismatch", "1 when exactly one of answer and reference contains a negation.", "none"
    ),
    FeatureDoc(
        "question_parroting",
        "Share of the answer's content words taken from the question, not the reference.",
        "none (0..1)",
    ),
    FeatureDoc(
        "novel_content", "Share of the answer's content words in neither reference nor question.", "none"
    ),
    FeatureDoc("number_mismatch", "1 when the answer has a number the reference lacks.", "none"),
    FeatureDoc("empty", "1 when the answer has no content word.", "none"),
    FeatureDoc(
        "knn_credit",
        _KNN + "Mean credit of the k most similar, weighted by max(similarity, 0) + 0.001; 0 with none.",
        "credit = score / scale_max",
        {"k": 5.0},
    ),
    FeatureDoc("nearest_credit", _KNN + "Credit of the most similar graded answer; 0 with none.", "credit"),
    FeatureDoc("nearest_similarity", _KNN + "Similarity to that answer; 0 with none.", "none (0..1)"),
    FeatureDoc(
        "full_credit_similarity",
        _KNN + "Highest similarity to a full-credit (>= 0.999) answer; 0 with none.",
        "none (0..1)",
    ),
    FeatureDoc(
        "no_credit_similarity",
        _KNN + "Highest similarity to a no-credit (<= 0.001) answer; 0 with none.",
        "none (0..1)",
    ),
    FeatureDoc("question_credit", _KNN + "Mean credit of those graded answers; 0 with none.", "credit"),
    FeatureDoc(
        "question_graded",
        _KNN + "How many, n.",
        "min(log1p(n) / ln(101), 1)",
        {"divisor": QUESTION_GRADED_DIVISOR},
    ),
    FeatureDoc(
        "teacher_credit",
        "Mean credit of every answer this teacher graded before (any question); 0 with none.",
        "credit",
    ),
    FeatureDoc(
        "teacher_graded", "How many, n.", "min(log1p(n) / ln(1001), 1)", {"divisor": float(np.log(1001.0))}
    ),
    FeatureDoc("inverse_scale", "1 / scale_max of the answer's grading scale; 0 when unknown.", "none"),
)


class AnswerFeaturizerOptions(BaseModel):
    """Options of the ``answer_text`` featurizer."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    neighbours: int = Field(5, ge=1, le=50, description="graded answers to the same question averaged (k)")


@dataclass(frozen=True)
class Item:
    """An answer to featurize; ``credit`` (fraction of full marks) and ``known`` (epoch seconds
    when that grade was given) when graded. ``scale`` is the grade's 0..scale (None: unknown)."""

    answer_id: str
    question: str
    reference: str
    text: str
    question_text: str | None = None
    scale: int | None = None
    credit: float | None = None
    known: float = math.inf


@dataclass(frozen=True)
class AnswerSamples:
    """Graded answers as training data, with their ids and questions."""

    data: Dataset
    answer_ids: tuple[str, ...]
    questions: tuple[str, ...]


@dataclass(frozen=True)
class _Doc:
    toks: list[str]
    stems: list[str]
    content: list[str]


def _doc(text: str) -> _Doc:
    toks = _text.tokens(text)
    return _Doc(toks, [_text.stem(t) for t in toks], _text.content_stems(toks))


def _reference_features(
    ans: _Doc, text: str, ref: _Doc, reference: str, question: set[str], weights: dict[str, float]
) -> list[float]:
    ref_content = [t for t in ref.content if t not in question] or ref.content
    content = [t for t in ans.content if t not in question] or ans.content
    recall = _text.alignment(content, ref_content, weights)
    precision = _text.alignment(ref_content, content, weights)
    f1 = 2 * recall * precision / (recall + precision) if recall + precision > 0 else 0.0
    ref_char4 = set(_text.char_ngrams(reference, 4))
    ref_set, content_set = set(ref.content), set(ans.content)
    negations = _text.negation_count(ans.toks)
    numbers = {t for t in ans.toks if t.isdigit()}
    return [
        recall,
        precision,
        f1,
        _text.overlap(content, ref_content),
        _text.overlap(_text.bigrams(ans.stems), _text.bigrams(ref.stems)),
        _text.cosine(_text.char_ngrams(text, 3), _text.char_ngrams(reference, 3)),
        len(set(_text.char_ngrams(text, 4)) & ref_char4) / len(ref_char4) if ref_char4 else 0.0,
        _tfidf_cosine(ans.content, ref.content, weights),
        _text.lcs_length(ans.stems, ref.stems) / max(len(ref.toks), 1),
        min(np.log1p(len(ans.toks)) / np.log(101.0), 1.5),
        float(np.clip(np.log((len(ans.toks) + 1.0) / (len(ref.toks) + 1.0)) / 2.0, -1.5, 1.5)),
        float((negations > 0) != (_text.negation_count(ref.toks) > 0)),
        len((content_set & question) - ref_set) / len(content_set) if content_set else 0.0,
        len(content_set - ref_set - question) / len(content_set) if content_set else 0.0,
        float(bool(numbers - {t for t in ref.toks if t.isdigit()})),
        float(not ans.content),
    ]


def _tfidf_cosine(a: Sequence[str], b: Sequence[str], weights: dict[str, float]) -> float:
    ca, cb = Counter(a), Counter(b)
    va = {t: c * weights.get(t, 1.0) for t, c in ca.items()}
    vb = {t: c * weights.get(t, 1.0) for t, c in cb.items()}
    dot = sum(v * vb[t] for t, v in va.items() if t in vb)
    norm = math.sqrt(sum(v * v for v in va.values()) * sum(v * v for v in vb.values()))
    return dot / norm if norm > 0 else 0.0


def _similarity(docs: Sequence[_Doc], texts: Sequence[str], weights: dict[str, float]) -> np.ndarray:
    """Pairwise answer similarity: the mean of TF-IDF word cosine and character-trigram cosine."""

    def normalized(rows: list[Counter[str]], weigh: dict[str, float] | None) -> np.ndarray:
        vocab = {t: i for i, t in enumerate(sorted({t for r in rows for t in r}))}
        m = np.zeros((len(rows), max(len(vocab), 1)))
        for i, r in enumerate(rows):
            for t, c in r.items():
                m[i, vocab[t]] = c * (weigh.get(t, 1.0) if weigh else 1.0)
        norm = np.linalg.norm(m, axis=1, keepdims=True)
        return m / np.where(norm > 0, norm, 1.0)

    words = normalized([Counter(d.content) for d in docs], weights)
    chars = normalized([_text.char_ngrams(t, 3) for t in texts], None)
    return 0.5 * (words @ words.T + chars @ chars.T)


def featurize(items: Sequence[Item], *, neighbours: int = 5) -> np.ndarray:
    """Feature rows of ``items``; IDF and neighbours come from these items (a teacher's answers).

    An item's teacher features use only the other items graded strictly before ``item.known``.
    """
    out = np.zeros((len(items), len(FEATURES)), np.float32)
    if not items:
        return out
    docs = [_doc(it.text) for it in items]
    ref_docs: dict[str, _Doc] = {}
    question_words: dict[str | None, set[str]] = {}
    for it in items:
        if it.reference not in ref_docs:
            ref_docs[it.reference] = _doc(it.reference)
        if it.question_text not in question_words:
            question_words[it.question_text] = set(_text.content_stems(_text.tokens(it.question_text or "")))
    weights = _text.idf([d.content for d in docs] + [d.content for d in ref_docs.values()])
    for i, (it, d) in enumerate(zip(items, docs)):
        out[i, : len(REFERENCE)] = _reference_features(
            d, it.text, ref_docs[it.reference], it.reference, question_words[it.question_text], weights
        )
        out[i, SCALE_COLUMN] = 1.0 / it.scale if it.scale else 0.0
    known = np.array([it.known for it in items])
    credit = np.array([np.nan if it.credit is None else it.credit for it in items])
    graded = ~np.isnan(credit)
    order = np.argsort(known[graded], kind="stable")
    graded_known, graded_credit = known[graded][order], credit[graded][order]
    by_question: dict[str, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        by_question[it.question].append(i)
    teacher = np.array(TEACHER_COLUMNS)
    for members in by_question.values():
        idx = np.array(members)
        sim = _similarity([docs[i] for i in idx], [items[i].text for i in idx], weights)
        for row, i in enumerate(idx):
            past = graded[idx] & (known[idx] < known[i])
            past[row] = False
            n_teacher = int(np.searchsorted(graded_known, known[i], side="left"))
            out[i, teacher] = _teacher_features(
                sim[row, past], credit[idx][past], graded_credit[:n_teacher], neighbours
            )
    return out


def _teacher_features(sim: np.ndarray, credit: np.ndarray, teacher_credit: np.ndarray, k: int) -> list[float]:
    graded_before = min(np.log1p(len(teacher_credit)) / np.log(1001.0), 1.0)
    teacher_mean = float(teacher_credit.mean()) if len(teacher_credit) else 0.0
    if not len(sim):
        return [0.0] * (len(TEACHER) - 2) + [teacher_mean, graded_before]
    top = np.argsort(-sim, kind="stable")[:k]
    w = np.maximum(sim[top], 0.0) + 1e-3
    full, none = credit >= 0.999, credit <= 0.001
    return [
        float(np.dot(w, credit[top]) / w.sum()),
        float(credit[top[0]]),
        float(sim[top[0]]),
        float(sim[full].max()) if full.any() else 0.0,
        float(sim[none].max()) if none.any() else 0.0,
        float(credit.mean()),
        min(np.log1p(len(sim)) / QUESTION_GRADED_DIVISOR, 1.0),
        teacher_mean,
        graded_before,
    ]


def grade_labels(credit: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Label columns (fraction of credit, lower and upper edge of the grade's interval on it).

    Grade ``g`` on ``0..K`` owns the fractions ``((g - ½) / K, (g + ½) / K)``; the lowest and highest
    grades' intervals are open (:data:`OPEN_EDGE`). Partial credit between two grades keeps its own
    interval (between those two).
    """
    c = np.asarray(credit, np.float64)
    k = np.maximum(np.asarray(scale, np.float64), 1.0)
    g = c * k
    lower = np.where(g < 0.5, -OPEN_EDGE, (g - 0.5) / k)
    upper = np.where(g > k - 0.5, OPEN_EDGE, (g + 0.5) / k)
    return np.stack([c, lower, upper], axis=1).astype(np.float32)


def question_grades(x: np.ndarray) -> np.ndarray:
    """How many answers to the same question the teacher had graded, per row (100 and more read as 100)."""
    return np.expm1(np.asarray(x, np.float64)[:, QUESTION_GRADED_COLUMN] * QUESTION_GRADED_DIVISOR)


def without_teacher(x: np.ndarray) -> np.ndarray:
    """``x`` as the base grader sees it before this teacher graded anything."""
    base = np.array(x, np.float32, copy=True)
    base[:, TEACHER_COLUMNS] = 0.0
    return base


class AnswerFeaturizer:
    """Featurizer ``answer_text``: graded answers for training, ungraded ones to suggest grades for."""

    schema: FeatureSchema = SCHEMA

    def __init__(self, options: AnswerFeaturizerOptions | None = None) -> None:
        self.options = options or AnswerFeaturizerOptions()

    def samples(self, events: Sequence[Event], *, now: datetime) -> AnswerSamples:
        items = _items(events, now)
        x = featurize(items, neighbours=self.options.neighbours)
        rows = [i for i, it in enumerate(items) if it.credit is not None]
        graded = [items[i] for i in rows]
        y = grade_labels(np.array([it.credit for it in graded]), np.array([it.scale or 1 for it in graded]))
        data = Dataset(
            x[rows].reshape(len(rows), len(FEATURES)),
            y.reshape(len(rows), 3),
            np.ones(len(rows)),
            SCHEMA,
            np.array([it.known for it in graded], np.float64),
        )
        return AnswerSamples(data, tuple(it.answer_id for it in graded), tuple(it.question for it in graded))

    def training_data(self, events: Sequence[Event], *, now: datetime) -> Dataset:
        return self.samples(events, now=now).data

    def rows(self, events: Sequence[Event], *, now: datetime) -> Rows:
        """One row per answer not graded yet; its teacher features use every grade known now."""
        items = _items(events, now)
        x = featurize(items, neighbours=self.options.neighbours)
        keep = [i for i, it in enumerate(items) if it.credit is None]
        context = tuple({"answer_id": items[i].answer_id, "question": items[i].question} for i in keep)
        return Rows(
            tuple(items[i].answer_id for i in keep), x[keep].reshape(len(keep), len(FEATURES)), context
        )

    def describe(self) -> tuple[FeatureDoc, ...]:
        """Each feature's definition and scaling (the export contract; see docs/mobile.md)."""
        return FEATURE_DOCS

    def sample_events(self) -> SampleEvents:
        """Synthetic answers (8 questions x 4, 24 graded by a simulated teacher) for golden vectors."""
        from satchel_plugins.rubric.simulate import simulate_teacher, synthetic_answers

        teacher = simulate_teacher(synthetic_answers(4, seed=19), "partial_credit", seed=19)
        events = teacher.events(24)
        return SampleEvents(events, max(e.time for e in events))


def _items(events: Sequence[Event], now: datetime) -> list[Item]:
    """Answers up to ``now`` with their latest grade (a regrade replaces the earlier grade).

    An answer's scale is its grade's, else the submission's, else the last one graded on its question.
    """
    answers: dict[str, Event] = {}
    grades: dict[str, Event] = {}
    for e in sorted(events, key=lambda e: e.time):
        if e.time > now:
            continue
        if e.type == ANSWER_SUBMITTED:
            answers[str(e.data["answer_id"])] = e
        elif e.type == ANSWER_GRADED:
            grades[str(e.data["answer_id"])] = e
    question_scale = {
        str(answers[a].data["question"]): int(cast(float, g.data.get("scale_max", 1)))
        for a, g in grades.items()
        if a in answers
    }
    items = []
    for answer_id, e in answers.items():
        d, g = e.data, grades.get(answer_id)
        question = str(d["question"])
        q_text = d.get("question_text")
        if g is not None:
            scale: int | None = int(cast(float, g.data.get("scale_max", 1)))
        else:
            scale = int(cast(float, d["scale_max"])) if d.get("scale_max") else question_scale.get(question)
        items.append(
            Item(
                answer_id,
                question,
                str(d.get("reference") or q_text or ""),
                str(d["text"]),
                None if q_text is None else str(q_text),
                scale,
                None if g is None else float(cast(float, g.data["score"])) / max(scale or 1, 1),
                math.inf if g is None else g.time.timestamp(),
            )
        )
    return items
