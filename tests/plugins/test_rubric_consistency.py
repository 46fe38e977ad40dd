"""An ungraded answer's suggestion row equals its training row once the teacher grades it."""

from datetime import datetime, timedelta, timezone

import numpy as np

from satchel.events import Event
from satchel_plugins.rubric.features import AnswerFeaturizer
from satchel_plugins.rubric.simulate import synthetic_answers

T0 = datetime(2025, 9, 1, 8, tzinfo=timezone.utc)


def test_suggestion_rows_equal_training_rows_when_all_answers_are_in():
    answers = synthetic_answers(per_question=12, seed=2)[:36]
    submitted = [
        Event(
            type="answer_submitted",
            time=T0,
            id=f"s{i}",
            data={
                "answer_id": a.answer_id,
                "question": a.question,
                "reference": a.reference,
                "text": a.text,
                "scale_max": 3,
            },
        )
        for i, a in enumerate(answers)
    ]
    graded = [
        Event(
            type="answer_graded",
            time=T0 + timedelta(hours=i + 1),
            id=f"g{i}",
            data={"answer_id": a.answer_id, "score": float(i % 4), "scale_max": 3},
        )
        for i, a in enumerate(answers)
    ]
    featurizer = AnswerFeaturizer()
    later = featurizer.samples(submitted + graded, now=T0 + timedelta(days=3))
    index = {a: j for j, a in enumerate(later.answer_ids)}
    for i, a in enumerate(answers[1:], start=1):  # answer i is suggested just before the teacher grades it
        rows = featurizer.rows(submitted + graded[:i], now=T0 + timedelta(hours=i, minutes=30))
        k = rows.keys.index(a.answer_id)
        np.testing.assert_array_equal(rows.x[k], later.data.x[index[a.answer_id]], err_msg=a.answer_id)
