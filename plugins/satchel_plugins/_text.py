"""On-device text features: tokens, a light stemmer, hashed n-grams, overlap and alignment measures.

Nothing here downloads a model or calls a network: tokens come from a regular expression,
stems from suffix stripping, n-grams are hashed with CRC-32 into fixed-width vectors, term
weights are inverse document frequencies over the texts at hand, and words align to each other
exactly, by stem, or by character-trigram similarity (a misspelling or another inflection).
"""

from __future__ import annotations

import itertools
import math
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SUFFIXES = ("ations", "ation", "ings", "ing", "ness", "ies", "ied", "ers", "ed", "es", "er", "ly", "s")

STOPWORDS: frozenset[str] = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "then",
        "so",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "they",
        "them",
        "their",
        "he",
        "she",
        "his",
        "her",
        "we",
        "our",
        "you",
        "your",
        "i",
        "me",
        "my",
        "do",
        "does",
        "did",
        "has",
        "have",
        "had",
        "will",
        "would",
        "can",
        "could",
        "should",
        "may",
        "might",
        "must",
        "than",
        "very",
        "also",
        "just",
        "into",
        "out",
        "up",
        "down",
        "over",
        "about",
        "which",
        "what",
        "when",
        "where",
        "who",
        "whom",
        "why",
        "how",
        "all",
        "any",
        "each",
        "both",
        "more",
        "most",
        "other",
        "some",
        "such",
        "only",
        "own",
        "same",
    ]
)
NEGATIONS: frozenset[str] = frozenset(
    [
        "not",
        "no",
        "never",
        "none",
        "nothing",
        "nobody",
        "neither",
        "nor",
        "cannot",
        "without",
        "isn't",
        "aren't",
        "wasn't",
        "weren't",
        "don't",
        "doesn't",
        "didn't",
        "can't",
        "couldn't",
        "won't",
        "wouldn't",
        "shouldn't",
        "hasn't",
        "haven't",
        "hadn't",
    ]
)


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens; contractions such as ``don't`` stay one token."""
    return _TOKEN.findall(text.lower().replace("\u2019", "'"))


def stem(token: str) -> str:
    """Strip one common English suffix from words longer than four letters."""
    if len(token) > 4 and "'" not in token:
        for suffix in _SUFFIXES:
            if token.endswith(suffix) and len(token) - len(suffix) >= 3:
                return token[: -len(suffix)]
    return token


def content_stems(toks: Sequence[str]) -> list[str]:
    """Stems of the tokens that are neither stop words nor negations."""
    return [stem(t) for t in toks if t not in STOPWORDS and t not in NEGATIONS]


def negation_count(toks: Sequence[str]) -> int:
    return sum(1 for t in toks if t in NEGATIONS)


def char_ngrams(text: str, n: int) -> Counter[str]:
    """Character n-grams of the space-normalised, lower-cased text (padded with spaces)."""
    s = " " + " ".join(tokens(text)) + " "
    return Counter(s[i : i + n] for i in range(max(len(s) - n + 1, 0)))


def cosine(a: Counter[str], b: Counter[str]) -> float:
    if not a or not b:
        return 0.0
    dot = sum(v * b[k] for k, v in a.items() if k in b)
    return dot / float(np.sqrt(sum(v * v for v in a.values()) * sum(v * v for v in b.values())))


def overlap(part: Iterable[str], whole: Iterable[str]) -> float:
    """Share of the distinct items of ``whole`` that also occur in ``part`` (0 when ``whole`` is empty)."""
    w = set(whole)
    return len(set(part) & w) / len(w) if w else 0.0


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token lists."""
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def hashed(items: Iterable[str], width: int) -> np.ndarray:
    """Signed feature hashing of ``items`` into ``width`` buckets, L2-normalised."""
    v = np.zeros(width)
    for item in items:
        h = zlib.crc32(item.encode("utf-8"))
        v[h % width] += 1.0 if (h >> 31) & 1 else -1.0
    norm = np.linalg.norm(v)
    return v / norm if norm > 0 else v


def bigrams(toks: Sequence[str]) -> list[str]:
    return [f"{a} {b}" for a, b in itertools.pairwise(toks)]


def idf(documents: Iterable[Iterable[str]]) -> dict[str, float]:
    """Smoothed inverse document frequency ``log((1 + n) / (1 + df)) + 1`` of each term."""
    df: Counter[str] = Counter()
    n = 0
    for doc in documents:
        df.update(set(doc))
        n += 1
    return {t: math.log((1 + n) / (1 + c)) + 1.0 for t, c in df.items()}


@lru_cache(maxsize=200_000)
def word_similarity(a: str, b: str) -> float:
    """1 for equal words, else the Dice coefficient of their padded character trigrams."""
    if a == b:
        return 1.0
    ga, gb = _trigrams(a), _trigrams(b)
    return 2.0 * len(ga & gb) / (len(ga) + len(gb))


@lru_cache(maxsize=50_000)
def _trigrams(word: str) -> frozenset[str]:
    s = f" {word} "
    return frozenset(s[i : i + 3] for i in range(len(s) - 2))


def alignment(
    source: Sequence[str],
    target: Sequence[str],
    weights: dict[str, float],
    *,
    fuzzy: float = 0.6,
    default_weight: float = 1.0,
) -> float:
    """Weighted share of the distinct ``target`` words that align to some ``source`` word.

    A word aligns fully when it occurs in ``source`` and by its similarity (:func:`word_similarity`)
    when the best source word is at least ``fuzzy`` similar; words weigh ``weights`` (e.g. IDF).
    """
    wanted = set(target)
    if not wanted:
        return 0.0
    have = set(source)
    total = matched = 0.0
    for t in wanted:
        w = weights.get(t, default_weight)
        total += w
        if t in have:
            matched += w
        elif have:
            best = max(word_similarity(t, s) for s in have)
            if best >= fuzzy:
                matched += w * best
    return matched / total
