"""The ``answer_text`` feature columns: names, schema, each feature's documented definition (the export
contract), and helpers on the feature and label columns."""

from __future__ import annotations

import numpy as np

from satchel.model.dataset import FeatureSchema
from satchel.model.export_contract import FeatureDoc

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
