"""The ``answer_text`` measures: an answer's features against its reference answer and against the
teacher's earlier grades, as feature rows of :class:`Item` s (:func:`featurize`)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from satchel_plugins import _text
from satchel_plugins.rubric.feature_columns import (
    FEATURES,
    QUESTION_GRADED_DIVISOR,
    REFERENCE,
    SCALE_COLUMN,
    TEACHER,
    TEACHER_COLUMNS,
)


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
