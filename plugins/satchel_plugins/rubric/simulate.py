"""Simulated teachers whose rubrics differ from SemEval's, with their true scores; and synthetic
answers for when the SemEval data is not at hand. Deterministic by seed.

Rubrics (the ground truth is a rule over the gold label and the answer text):

- ``partial_credit`` (0..3): correct answers get 3 when they cover at least half of the reference's
  content words, else 2; incorrect ones get 1 when they cover a third, else 0.
- ``lenient`` (0/1): correct, or incorrect but covering at least half of the reference's content.
- ``strict`` (0/1): correct, at least eight words, and no negation the reference lacks.

With probability ``noise`` a score moves one step up or down (a teacher is not a function).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from satchel.events import Event
from satchel_plugins import _text
from satchel_plugins.rubric.semeval import GradedAnswer, answer_events

RUBRICS: dict[str, int] = {"partial_credit": 3, "lenient": 1, "strict": 1}


@dataclass(frozen=True)
class SimulatedTeacher:
    """A teacher's rubric and their score of each answer (``scores[i]`` for ``answers[i]``)."""

    rubric: str
    scale_max: int
    answers: tuple[GradedAnswer, ...]
    scores: np.ndarray

    def events(self, graded: int) -> tuple[Event, ...]:
        """All answers submitted; the first ``graded`` of them graded by this teacher."""
        return answer_events(self.answers, self.scores[:graded].tolist(), scale_max=self.scale_max)


def rubric_score(rubric: str, answer: GradedAnswer) -> int:
    """The noiseless score ``rubric`` gives ``answer``."""
    toks = _text.tokens(answer.text)
    ref_toks = _text.tokens(answer.reference)
    coverage = _text.overlap(_text.content_stems(toks), _text.content_stems(ref_toks))
    if rubric == "partial_credit":
        if answer.label:
            return 3 if coverage >= 0.5 else 2
        return 1 if coverage >= 1 / 3 else 0
    if rubric == "lenient":
        return int(bool(answer.label) or coverage >= 0.5)
    if rubric == "strict":
        extra_negation = _text.negation_count(toks) > 0 and _text.negation_count(ref_toks) == 0
        return int(bool(answer.label) and len(toks) >= 8 and not extra_negation)
    raise ValueError(f"unknown rubric {rubric!r}; choose one of {sorted(RUBRICS)}")


def simulate_teacher(
    answers: Sequence[GradedAnswer], rubric: str, *, noise: float = 0.05, seed: int = 0
) -> SimulatedTeacher:
    """A teacher grading ``answers`` (shuffled) by ``rubric``."""
    if rubric not in RUBRICS:
        raise ValueError(f"unknown rubric {rubric!r}; choose one of {sorted(RUBRICS)}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(answers))
    shuffled = tuple(answers[i] for i in order)
    k = RUBRICS[rubric]
    scores = np.array([rubric_score(rubric, a) for a in shuffled], np.float64)
    flip = rng.random(len(scores)) < noise
    scores = np.where(flip, np.clip(scores + rng.choice([-1.0, 1.0], len(scores)), 0, k), scores)
    return SimulatedTeacher(rubric, k, shuffled, scores)


_QUESTIONS: tuple[tuple[str, str], ...] = (
    (
        "Why does the bulb light when the switch is closed?",
        "closing the switch completes the circuit so current flows through the bulb",
    ),
    (
        "What happens to the voltage across a gap in a circuit?",
        "the gap has a voltage because it separates terminals at different electrical states",
    ),
    (
        "Why do plants need sunlight?",
        "plants use light energy to make sugar from carbon dioxide and water in photosynthesis",
    ),
    (
        "What makes a magnet attract a nail?",
        "the nail is made of iron which is attracted by the magnetic field",
    ),
    (
        "Why does ice melt in a warm room?",
        "heat energy flows from the warmer air into the ice raising its temperature above freezing",
    ),
    (
        "How does sound travel to your ear?",
        "vibrations travel through the air as waves and reach the eardrum",
    ),
    ("Why is the sky dark at night?", "the earth rotates so our side faces away from the sun"),
    ("What does a thermometer measure?", "a thermometer measures temperature how hot or cold something is"),
)
_FILLER = [
    "i",
    "think",
    "because",
    "it",
    "is",
    "the",
    "that",
    "so",
    "well",
    "maybe",
    "just",
    "like",
    "really",
]
_DISTRACTORS = [
    "battery",
    "color",
    "weight",
    "moon",
    "rain",
    "paper",
    "glass",
    "wind",
    "sound",
    "light",
    "water",
    "metal",
    "energy",
]


def synthetic_answers(per_question: int = 40, *, seed: int = 0) -> tuple[GradedAnswer, ...]:
    """Templated answers to a few science questions; correct ones reuse most of the reference."""
    rng = np.random.default_rng(seed)
    out = []
    for q, (question, reference) in enumerate(_QUESTIONS):
        words = reference.split()
        for j in range(per_question):
            correct = bool(rng.random() < 0.5)
            keep = rng.uniform(0.6, 1.0) if correct else rng.uniform(0.0, 0.45)
            chosen = [w for w in words if rng.random() < keep]
            if not correct:
                chosen += list(rng.choice(_DISTRACTORS, size=int(rng.integers(1, 4))))
                if rng.random() < 0.3:
                    chosen.insert(0, "not")
            chosen += list(rng.choice(_FILLER, size=int(rng.integers(0, 4))))
            if not correct:
                rng.shuffle(chosen)
            out.append(
                GradedAnswer(f"q{q}_a{j}", f"q{q}", question, reference, " ".join(chosen), int(correct))
            )
    return tuple(out)
