from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from shared_data import SEMEVAL_CSV, needs

from satchel.errors import EventError, PluginError
from satchel.model import reference
from satchel.model.dataset import Dataset
from satchel.model.spec import Loss
from satchel.model.task import Rows
from satchel_plugins import _text
from satchel_plugins.rubric import (
    FEATURES,
    RUBRICS,
    AnswerFeaturizer,
    GradebookImporter,
    GradebookImportOptions,
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
from satchel_plugins.rubric.features import (
    SCALE_COLUMN,
    SCHEMA,
    TEACHER,
    Item,
    featurize,
    grade_labels,
    without_teacher,
)
from satchel_plugins.rubric.task import grade_probabilities, ordinal_loss

NOW = datetime(2025, 1, 1, tzinfo=timezone.utc)
REF = "closing the switch completes the circuit so current flows through the bulb"
GOOD = "the switch completes the circuit and current flows through the bulb"


def feature(vec: np.ndarray, name: str) -> float:
    return float(vec[FEATURES.index(name)])


def one(text: str, question_text: str | None = None, reference: str = REF) -> np.ndarray:
    return featurize([Item("a", "q", reference, text, question_text)])[0]


def test_text_helpers():
    assert _text.tokens("It doesn't flow!") == ["it", "doesn't", "flow"]
    assert (
        _text.stem("completes") == "complet" and _text.stem("flows") == "flow" and _text.stem("bus") == "bus"
    )
    assert _text.lcs_length(["a", "b", "c", "d"], ["a", "c", "d"]) == 3
    assert _text.word_similarity("circuit", "circuit") == 1.0
    assert _text.word_similarity("circuit", "circiut") > 0.3 > _text.word_similarity("circuit", "bulb")
    weights = _text.idf([["switch", "bulb"], ["bulb"], ["bulb", "wire"]])
    assert weights["switch"] > weights["bulb"]
    # a rare word weighs more than a common one; a misspelling still aligns (partly)
    assert (
        _text.alignment(["bulb"], ["switch", "bulb"], weights)
        < 0.5
        < _text.alignment(["switch"], ["switch", "bulb"], weights)
    )
    assert 0 < _text.alignment(["switchs"], ["switch"], weights) < 1


def test_reference_features_reward_alignment_and_see_negation_and_demote_the_question():
    good, bad = one(GOOD), one("the battery is not charged")
    assert feature(good, "align_recall") > 0.7 > feature(bad, "align_recall")
    assert feature(good, "char3_cosine") > feature(bad, "char3_cosine")
    assert feature(bad, "negation_mismatch") == 1.0 and feature(good, "negation_mismatch") == 0.0
    assert feature(one(""), "empty") == 1.0
    question = "Why does the bulb light when the switch is closed?"
    parrot = one("why does the bulb light up", question)
    assert feature(parrot, "question_parroting") > 0
    # words the question gives away earn nothing: parroting them does not align with the reference
    assert feature(parrot, "align_recall") < feature(one("why does the bulb light up"), "align_recall")
    assert good.shape == (len(FEATURES),) and np.isfinite(good).all()


def test_teacher_features_see_only_grades_given_before():
    texts = [GOOD, "the battery is flat", GOOD + " indeed", "the battery is flat again"]
    items = [
        Item(f"a{i}", "q", REF, t, scale=4, credit=c, known=float(i))
        for i, (t, c) in enumerate(zip(texts, [1.0, 0.0, None, None]))
    ]
    items[3] = Item("a3", "q", REF, texts[3], scale=4, credit=0.25, known=5.0)
    x = featurize(items)
    teacher = [FEATURES.index(n) for n in TEACHER]
    assert np.all(x[0, teacher] == 0)  # the first grade: nothing known before it
    assert feature(x[1], "nearest_credit") == 1.0 and feature(x[1], "question_graded") > 0
    assert (
        feature(x[2], "knn_credit") > 0.5 and feature(x[2], "nearest_credit") == 1.0
    )  # like a full-credit one
    assert feature(x[3], "nearest_credit") == 0.0 and feature(x[3], "no_credit_similarity") > 0.5
    assert x[0, SCALE_COLUMN] == pytest.approx(0.25)
    other = featurize([Item("b", "other", REF, GOOD, credit=None)] + items[:2])
    assert feature(other[0], "question_graded") == 0 and feature(other[0], "teacher_graded") > 0


def test_featurizer_samples_carry_times_and_rows_are_the_ungraded():
    answers = synthetic_answers(5, seed=1)[:10]
    events = answer_events(answers, [3, 0, 2], scale_max=3)
    f = AnswerFeaturizer()
    s = f.samples(events, now=NOW)
    assert s.answer_ids == tuple(a.answer_id for a in answers[:3])
    assert s.data.y[:, 0].tolist() == pytest.approx([1.0, 0.0, 2 / 3])
    graded_at = [e.time.timestamp() for e in events if e.type == "answer_graded"]
    assert s.data.times.tolist() == graded_at
    rows = f.rows(events, now=NOW)
    assert rows.keys == tuple(a.answer_id for a in answers[3:]) and rows.x.shape == (7, len(FEATURES))
    graded_questions = {a.question for a in answers[:3]}
    scale = [1 / 3 if a.question in graded_questions else 0.0 for a in answers[3:]]  # 0: unknown, the task's
    assert rows.x[:, SCALE_COLUMN].tolist() == pytest.approx(scale) and sum(scale) > 0
    assert len(f.samples(events, now=datetime(2000, 1, 1, tzinfo=timezone.utc)).data) == 0


def test_grade_intervals_and_the_ordinal_loss_agree_with_the_grade_probabilities():
    y = grade_labels(np.array([0.0, 0.5, 1.0, 0.625]), np.array([4, 4, 4, 4]))
    assert (
        y[0, 1] < -1 and y[0, 2] == pytest.approx(0.125) and y[2, 2] > 1 and y[2, 1] == pytest.approx(0.875)
    )
    assert y[3, 1:].tolist() == pytest.approx([0.5, 0.75])  # 2.5 of 4: between grades 2 and 3
    out = np.array([[0.1, -1.0], [0.5, 0.0], [0.9, -2.0], [0.6, -1.0]])
    p = grade_probabilities(out, 4)
    assert np.allclose(p.sum(axis=1), 1.0) and p[0].argmax() == 0 and p[2].argmax() == 4
    loss = ordinal_loss()
    assert isinstance(loss, Loss) and loss.label_dim == 3
    pull = np.square(out[:3, 0] - y[:3, 0])
    nll = -np.log(p[np.arange(3), [0, 2, 4]])
    assert np.allclose(loss.per_sample(out[:3], y[:3]), nll + pull, atol=1e-6)


def test_decisions_carry_the_grade_its_probabilities_and_a_check_flag():
    task = RubricTask(RubricTaskOptions(scale_max=3, review_below=0.6))
    x = np.zeros((3, len(FEATURES)), np.float32)
    x[2, SCALE_COLUMN] = 0.2  # this answer is graded 0..5
    rows = Rows(("sure", "unsure", "five"), x, ({}, {}, {}))
    decisions = {
        d.key: d for d in task.decide(rows, np.array([[1.0, -6.0], [0.5, 1.0], [0.4, -6.0]]), now=NOW)
    }
    assert decisions["sure"].action == "suggest" and decisions["sure"].details["suggested_score"] == 3
    assert decisions["unsure"].action == "needs_review" and decisions["unsure"].details["review_rank"] == 1
    assert len(decisions["sure"].details["probabilities"]) == 4
    assert decisions["five"].details["scale_max"] == 5 and decisions["five"].details["suggested_score"] == 2
    with pytest.raises(ValueError, match="above scale_max"):
        AnswerGraded(answer_id="a", score=4, scale_max=3)


def test_base_weights_load_and_the_prior_ranks_correct_answers_higher():
    task, schema = RubricTask(), AnswerFeaturizer.schema
    base = task.base_params(schema)
    assert base is not None and set(base) == set(task.model_spec(schema).param_shapes)
    answers = synthetic_answers(10, seed=3)
    rows = AnswerFeaturizer().rows(answer_events(answers), now=NOW)
    expected = task.suggestions(rows.x, task.prior(rows)).expected
    labels = np.array([a.label for a in answers])
    assert expected[labels == 1].mean() > expected[labels == 0].mean() + 0.2
    assert RubricTask(RubricTaskOptions(hidden=(8,))).base_params(schema) is None
    missing = RubricTask(RubricTaskOptions(base_weights="/nonexistent/base.npz"))
    with pytest.raises(PluginError, match="train_base"):
        missing.base_params(schema)


def test_the_prior_reads_the_teachers_grades_of_the_same_question_only_as_far_as_they_go():
    task = RubricTask()
    spec = task.model_spec(SCHEMA)
    texts = [GOOD, "the battery is flat", "the bulb is bright", GOOD + " again", "current flows", "no idea"]
    items = [
        Item(f"o{i}", "other", REF, t, scale=4, credit=c, known=float(i))
        for i, (t, c) in enumerate(zip(texts, [0.0, 0.0, 0.0, 0.0, 0.25, 0.0]))
    ]
    items += [
        Item(f"s{i}", "same", REF, t, scale=4, credit=0.0, known=10.0 + i) for i, t in enumerate(texts[1:])
    ]
    items.append(Item("new", "new", REF, GOOD, scale=4))
    items.append(Item("asked", "same", REF, GOOD, scale=4))
    x = featurize(items)
    prior = task.prior(Rows(("new", "asked"), x[-2:]))
    blind = reference.predict(spec, task.base_params(SCHEMA), without_teacher(x[-2:]))
    reading = reference.predict(spec, task.base_params(SCHEMA), x[-2:])
    # strict grades on other questions alone never move the suggestion for a new question
    assert feature(x[-2], "teacher_graded") > 0 and feature(x[-2], "question_graded") == 0
    np.testing.assert_allclose(prior[0], blind[0], atol=1e-6)
    # five grades of its own question: 5/6 of the way from the blind base to the base reading them
    np.testing.assert_allclose(prior[1], blind[1] + 5 / 6 * (reading[1] - blind[1]), atol=1e-5)
    assert not np.allclose(prior[1], blind[1], atol=1e-3)


def test_metrics_and_baselines_on_the_teachers_scale():
    task = RubricTask(RubricTaskOptions(scale_max=3))
    answers = synthetic_answers(5)[:6]
    data = AnswerFeaturizer().training_data(answer_events(answers, [0, 1, 2, 3, 3, 0], scale_max=3), now=NOW)
    exact = np.stack([data.y[:, 0], np.full(len(data), -8.0)], axis=1)
    m = task.metrics(data, exact)
    assert (
        m["qwk"] == pytest.approx(1.0)
        and m["accuracy"] == 1.0
        and m["mean_abs_error"] == pytest.approx(0.0, abs=1e-6)
    )
    assert m["pearson"] == pytest.approx(1.0) and m["grade_nll"] < 0.05
    base, frequent = task.baselines()
    assert (base.name, frequent.name) == ("base_grader", "most_frequent_grade")
    frequent.fit(data.take(np.arange(5)))
    assert task.metrics(data, frequent.predict(data))["accuracy"] == pytest.approx(2 / 6)  # grade 3, twice
    assert base.predict(data).shape == (len(data), 2) and task.objective in m


def test_simulated_teachers_differ_from_semeval_and_are_deterministic():
    answers = synthetic_answers(30, seed=2)
    for rubric, k in RUBRICS.items():
        a, b = simulate_teacher(answers, rubric, seed=7), simulate_teacher(answers, rubric, seed=7)
        assert np.array_equal(a.scores, b.scores) and a.scale_max == k
        assert a.scores.min() >= 0 and a.scores.max() <= k
    lenient = [rubric_score("lenient", x) for x in answers]
    assert sum(lenient) >= sum(x.label for x in answers)
    wrong_but_close = GradedAnswer(
        "x", "q", "", REF, "closing switch completes circuit current flows bulb", 0
    )
    assert (
        rubric_score("lenient", wrong_but_close) == 1 and rubric_score("partial_credit", wrong_but_close) == 1
    )


def _read(path, **options):
    return [s.event for s in GradebookImporter(GradebookImportOptions(**options)).read(path)]


def test_gradebook_tab_separated_with_an_unnamed_id_column_and_teacher_names(tmp_path):
    path = tmp_path / "gradebook.tsv"
    path.write_text(
        "\tQuestion\tModel answer\tResponse\tPoints\tMax points\tGraded at\n"
        "7\tWhy does it light?\tthe circuit is closed\tit is closed\t4\t5\t2024-09-02T10:00:00Z\n"
        "8\tWhy does it light?\tthe circuit is closed\tno idea\t0\t5\t2024-09-02T10:01:00Z\n"
    )
    events = _read(path)
    submitted = [e for e in events if e.type == "answer_submitted"]
    graded = [e for e in events if e.type == "answer_graded"]
    assert [e.data["answer_id"] for e in submitted] == ["7", "8"]
    assert submitted[0].data["reference"] == "the circuit is closed" and submitted[0].data["scale_max"] == 5
    assert [(g.data["score"], g.data["scale_max"]) for g in graded] == [(4.0, 5), (0.0, 5)]
    assert graded[1].time - graded[0].time == timedelta(minutes=1) and submitted[1].time < graded[0].time
    data = AnswerFeaturizer().training_data(events, now=NOW)
    assert data.y[:, 0].tolist() == pytest.approx([0.8, 0.0])


def test_gradebook_columns_mapped_by_option_semicolons_and_windows_encoding(tmp_path):
    path = tmp_path / "noten.csv"
    path.write_bytes(
        "Schüler;Aufgabe;Antwort;Punkte\nAnna;A1;Strom fließt;2\nBen;A1;weiß nicht;0\n".encode("cp1252")
    )
    events = _read(
        path,
        map={"student": "Schüler", "question_id": "Aufgabe", "student_answer": "Antwort", "score": "Punkte"},
    )
    graded = [e for e in events if e.type == "answer_graded"]
    assert [g.data["answer_id"] for g in graded] == ["Anna|A1", "Ben|A1"]
    assert [g.data["scale_max"] for g in graded] == [2, 2]  # no scale column: the top score
    assert graded[0].time < graded[1].time  # file order is grading order
    assert (
        _read(path, map={"student_answer": "Antwort", "score": "Punkte"}, scale_max=10)[1].data["scale_max"]
        == 10
    )
    with pytest.raises(
        EventError, match=r"no column with the students' answers; the columns are 'Schüler', 'Aufgabe'"
    ):
        _read(path)
    with pytest.raises(EventError, match="map score='Note': no such column"):
        _read(path, map={"score": "Note", "student_answer": "Antwort"})
    with pytest.raises(ValueError, match="unknown field"):
        GradebookImportOptions(map={"grade": "Punkte"})


def test_gradebook_errors_name_the_line_and_never_leak_a_traceback(tmp_path):
    path = tmp_path / "grades.csv"
    path.write_text(
        "answer_id,question_id,reference_answer,student_answer,score,scale_max\n"
        "a1,q1,ref,ans,2,3\na2,q1,ref,ans,,\na3,q1,ref,ans,5,3\n"
    )
    with pytest.raises(EventError, match=r"grades.csv:4: field 'score'"):
        _read(path)
    path.write_text("answer,score\nok,three\n")
    with pytest.raises(EventError, match=r"grades.csv:2: score 'three' is not a number"):
        _read(path)
    path.write_text("answer,score,graded_at\nok,1,yesterday\n")
    with pytest.raises(EventError, match="graded_at 'yesterday' is not a time"):
        _read(path)
    book = tmp_path / "broken.xlsx"
    book.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(EventError, match="not a readable XLSX"):
        _read(book)


def test_gradebook_xlsx(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["ID", "Question", "Answer", "Grade", "Out of", "Timestamp"])
    ws.append([1, "Q1", "the circuit is closed", 3, 3, datetime(2024, 9, 2, 9, 0)])
    ws.append([2, "Q1", "dunno", 0, 3, datetime(2024, 9, 2, 9, 5)])
    wb.save(tmp_path / "book.xlsx")
    graded = [e for e in _read(tmp_path / "book.xlsx") if e.type == "answer_graded"]
    assert [(g.data["answer_id"], g.data["score"], g.data["scale_max"]) for g in graded] == [
        ("1", 3.0, 3),
        ("2", 0.0, 3),
    ]
    assert graded[0].time == datetime(2024, 9, 2, 9, 0, tzinfo=timezone.utc)
    with pytest.raises(EventError, match="no sheet 'Marks'; the sheets are Sheet"):
        _read(tmp_path / "book.xlsx", sheet="Marks")


@needs(SEMEVAL_CSV)
def test_gradebook_import_reads_the_semeval_csv_as_is():
    events = _read(SEMEVAL_CSV)
    assert len(events) == 2 * 16003
    first = load_semeval(splits=("test_ua",))[0]
    submitted = next(
        e for e in events if e.type == "answer_submitted" and e.data["answer_id"] == first.answer_id
    )
    assert submitted.data["text"] == first.text and submitted.data["question_text"] == first.question_text
    assert {e.data["score"] for e in events if e.type == "answer_graded"} == {0.0, 1.0}


def test_schema_is_the_featurizers():
    assert AnswerFeaturizer.schema == SCHEMA and Dataset.of(np.zeros((1, SCHEMA.width)), [0.0]).x.shape[
        1
    ] == len(FEATURES)
