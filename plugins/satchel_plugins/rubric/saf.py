"""The SAF (Short Answer Feedback) data, English part, read from the shared data folder (never copied).

Scores are fractions of full credit (0, 0.25, … 1, with a few in eighths or tenths); a teacher's
gradebook of it is on the integer scale ``0..SCALE_MAX`` (quarter steps), each score rounded to the
nearest step (halves up). The 3-way label ``Correct`` is the binary label.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from satchel_plugins.rubric.semeval import GradedAnswer

#: ``../shared/data/...`` relative to the repository root.
SAF_DIR = (
    Path(__file__).resolve().parents[3].parent / "shared" / "data" / "saf_short_answer_feedback" / "data"
)
SAF_SPLITS: tuple[str, ...] = ("training", "unseen_answers", "unseen_questions")
SCALE_MAX = 4


def load_saf(directory: Path = SAF_DIR, splits: Iterable[str] = SAF_SPLITS) -> tuple[GradedAnswer, ...]:
    """Answers of the given splits, question by question (files sorted by name), in file order.

    A question's id is its file name (two files share the XML id ``2.1``).
    """
    answers: list[GradedAnswer] = []
    for split in splits:
        for path in sorted((Path(directory) / split / "english").glob("*.xml")):
            root = ET.parse(path).getroot()
            question_text = " ".join((root.findtext("questionText") or "").split())
            reference = " ".join((root.findtext("referenceAnswers/referenceAnswer") or "").split())
            for sa in root.iter("studentAnswer"):
                raw = float((sa.findtext("score") or "").strip())
                answers.append(
                    GradedAnswer(
                        str(sa.get("id")),
                        path.stem,
                        question_text,
                        reference,
                        " ".join((sa.findtext("response") or "").split()),
                        int((sa.findtext("verification_feedback") or "").strip().lower() == "correct"),
                        split,
                        "saf",
                        float(math.floor(raw * SCALE_MAX + 0.5)),
                        SCALE_MAX,
                    )
                )
    return tuple(answers)
