from datetime import datetime, timezone

import numpy as np
import pytest
from shared_data import SEMEVAL_CSV, needs

from satchel.errors import EventError, PluginError
from satchel.task import Rows
from satchel_plugins import _text
from satchel_plugins.rubric import (
    FEATURES,
    RUBRICS,
    AnswerFeaturizer,
    GradebookImporter,
    GradedAnswer,
    RubricTask,
    RubricTaskOptions,
    answer_events,
    load_semeval,
    rubric_score,
    simulate_teacher,
    synthetic_answers,
)
from satchel_plugins.rubric.events import AnswerGraded
from satchel_plugins.rubric.features import answer_features

NOW = datetime(2025, 1, 1, tzinfo=timezone.utc)
REF = "closing the switch completes the circuit so current flows through the bulb"


def feature(vec: np.ndarray, name: str) -> float:
    return float(vec[FEATURES.index(name)])


def test_text_helpers():
    assert _text.tokens("It doesn't flow!") == ["it", "doesn't", "flow"]
    assert _text.stem("completes") == "complet" and _text.stem("flows") == "flow" and _text.stem("bus") == "bus"
    assert _text.lcs_length("a b c d".split(), "a c d".split()) == 3
    v = _text.hashed(["x", "y", "x"], 16)
    assert v.shape == (16,) and np.linalg.norm(v) == pytest.approx(1.0)
    assert np.array_equal(v, _text.hashed(["x", "y", "x"], 16))  # stable across runs (CRC-32)


def test_answer_features_reward_overlap_and_see_negation():
    good = answer_features(REF, "the switch completes the circuit and current flows through the bulb")
    bad = answer_features(REF, "the battery is not charged")
    assert feature(good, "content_recall") > 0.8 > feature(bad, "content_recall")
    assert feature(good, "char3_cosine") > feature(bad, "char3_cosine")
    assert feature(bad, "negation_mismatch") == 1.0 and feature(good, "negation_mismatch") == 0.0
    assert feature(answer_features(REF, ""), "empty") == 1.0
    parrot = answer_features(REF, "why does the bulb light up", "Why does the bulb light when the switch is closed?")
    assert feature(parrot, "question_parroting") > 0
    assert good.shape == (len(FEATURES),) and np.isfinite(good).all()


def test_featurizer_pairs_grades_with_answers_and_rows_are_the_ungraded():
    answers = synthetic_answers(5, seed=1)[:10]
    events = answer_events(answers, [3, 0, 2], scale_max=3)
    f = AnswerFeaturizer()
    s = f.samples(events, now=NOW)
    assert s.answer_ids == tuple(a.answer_id for a in answers[:3])
    assert s.data.y[:, 0].tolist() == pytest.approx([1.0, 0.0, 2 / 3])
    rows = f.rows(events, now=NOW)
    assert rows.keys == tuple(a.answer_id for a in answers[3:]) and rows.x.shape == (7, len(FEATURES))
    assert len(f.samples(events, now=datetime(2000, 1, 1, tzinfo=timezone.utc)).data) == 0


def test_decisions_suggest_on_the_teachers_scale_and_rank_uncertain_first():
    task = RubricTask(RubricTaskOptions(scale_max=3, review_below=0.5))
    rows = Rows(("a", "b", "c"), np.zeros((3, len(FEATURES)), np.float32), ({}, {}, {}))
    decisions = task.decide(rows, np.array([[1.0], [0.5], [0.34]]), now=NOW)
    assert [d.key for d in decisions] == ["b", "c", "a"]  # 1.5 is halfway between two scores
    assert [d.action for d in decisions] == ["needs_review", "suggest", "suggest"]
    assert decisions[2].details["suggested_score"] == 3 and decisions[1].details["suggested_score"] == 1
    with pytest.raises(ValueError, match="above scale_max"):
        AnswerGraded(answer_id="a", score=4, scale_max=3)


def test_base_weights_load_and_the_prior_is_the_base_grader():
    task, schema = RubricTask(), AnswerFeaturizer.schema
    base = task.base_params(schema)
    assert base is not None and set(base) == set(task.model_spec(schema).param_shapes)
    answers = synthetic_answers(10, seed=3)
    events = answer_events(answers)
    rows = AnswerFeaturizer().rows(events, now=NOW)
    prior = task.prior(rows)[:, 0]
    labels = np.array([a.label for a in answers])
    assert prior[labels == 1].mean() > prior[labels == 0].mean() + 0.1
    assert RubricTask(RubricTaskOptions(hidden=(8,))).base_params(schema) is None
    missing = RubricTask(RubricTaskOptions(base_weights="/nonexistent/base.npz"))
    with pytest.raises(PluginError, match="train_base"):
        missing.base_params(schema)


def test_metrics_on_the_teachers_scale():
    answers = synthetic_answers(5)[:6]
    data = AnswerFeaturizer().training_data(answer_events(answers, [0, 1, 2, 3, 3, 0], scale_max=3), now=NOW)
    m = RubricTask(RubricTaskOptions(scale_max=3)).metrics(data, data.y[:, 0])
    assert m["qwk"] == pytest.approx(1.0) and m["accuracy"] == 1.0 and m["mean_abs_error"] == 0.0


def test_simulated_teachers_differ_from_semeval_and_are_deterministic():
    answers = synthetic_answers(30, seed=2)
    for rubric, k in RUBRICS.items():
        a, b = simulate_teacher(answers, rubric, seed=7), simulate_teacher(answers, rubric, seed=7)
        assert np.array_equal(a.scores, b.scores) and a.scale_max == k
        assert a.scores.min() >= 0 and a.scores.max() <= k
    lenient = [rubric_score("lenient", x) for x in answers]
    assert sum(lenient) >= sum(x.label for x in answers)
    wrong_but_close = GradedAnswer("x", "q", "", REF, "closing switch completes circuit current flows bulb", 0)
    assert rubric_score("lenient", wrong_but_close) == 1 and rubric_score("partial_credit", wrong_but_close) == 1


@needs(SEMEVAL_CSV)
def test_gradebook_import_reads_the_semeval_csv_as_is(tmp_path):
    events = [s.event for s in GradebookImporter().read(SEMEVAL_CSV)]
    assert len(events) == 2 * 16003
    first = load_semeval(splits=("test_ua",))[0]
    submitted = next(e for e in events if e.type == "answer_submitted" and e.data["answer_id"] == first.answer_id)
    assert submitted.data["text"] == first.text and submitted.data["question_text"] == first.question_text
    path = tmp_path / "grades.csv"
    path.write_text("answer_id,question_id,reference_answer,student_answer,score,scale_max\n"
                    "a1,q1,ref,ans,2,3\na2,q1,ref,ans,,\na3,q1,ref,ans,5,3\n")
    with pytest.raises(EventError, match=r"grades.csv:4: field 'score'"):
        list(GradebookImporter().read(path))
    path.write_text("answer_id,question_id,student_answer\n")
    with pytest.raises(EventError, match="missing column"):
        list(GradebookImporter().read(path))
