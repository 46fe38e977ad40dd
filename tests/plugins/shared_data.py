"""Paths of the real data in ../shared/data (never copied into the repository)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
LOOP_CSV = SHARED / "loop_habits_sample" / "Checkmarks.csv"
SEMEVAL_CSV = SHARED / "semeval2013_2way" / "semeval2013_task7_2way_flat.csv"
ANKI_CSV = SHARED / "anki_revlog_niplav" / "anki_reviews.csv"


def needs(path: Path) -> pytest.MarkDecorator:
    """Skip (not fail) when the shared data set is absent."""
    return pytest.mark.skipif(not path.exists(), reason=f"shared data not found: {path}")
