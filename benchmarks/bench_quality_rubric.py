"""Grading assistance on real graded data: satchel's suggestions vs the teacher, against the base
grader and the teacher's most frequent grade, as a device replays a teacher's gradebook.

The evaluation is :func:`satchel_plugins.rubric.evaluate.learning_curve` (satchel's own device replay,
the engine of ``satchel evaluate``), which ``tests/plugins/test_quality_rubric.py`` asserts on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.report import SEMEVAL_CSV, Context, Section, Table, TableBuilder, pyplot, save_plot
from satchel_plugins.rubric.evaluate import METRICS, PREDICTORS, LearningCurve, learning_curve
from satchel_plugins.rubric.saf import SAF_DIR, load_saf
from satchel_plugins.rubric.semeval import GradedAnswer, load_semeval

LABELS = {
    "satchel": "satchel (served)",
    "fallback": "base + teacher features (no training)",
    "base_grader": "base grader",
    "most_frequent_grade": "most frequent grade",
}
NAMES = {"pearson": "Pearson", "qwk": "QWK", "accuracy": "exact"}
EPOCHS = 10


@dataclass(frozen=True)
class Split:
    """A data split replayed as one teacher's gradebook: ``orders`` grading orders, ``per_day`` grades a day."""

    title: str
    load: Callable[[], Sequence[GradedAnswer]]
    orders: int
    per_day: int
    quick: bool = False


SPLITS: dict[str, Split] = {
    "saf_unseen_questions": Split(
        "SAF unseen questions (0-4)", lambda: load_saf(splits=("unseen_questions",)), 4, 10, quick=True
    ),
    "saf_unseen_answers": Split(
        "SAF unseen answers (0-4)", lambda: load_saf(splits=("unseen_answers",)), 6, 10
    ),
    "semeval_test_ua": Split(
        "SemEval-2013 unseen answers (2-way)", lambda: load_semeval(splits=("test_ua",)), 1, 25
    ),
    "semeval_test_uq": Split(
        "SemEval-2013 unseen questions (2-way)", lambda: load_semeval(splits=("test_uq",)), 1, 25
    ),
}


def run(ctx: Context) -> Section:
    title = "Grading assistance: agreement with the teacher"
    if not (SAF_DIR.exists() and SEMEVAL_CSV.exists()):
        return Section(
            "rubric", title, f"Skipped: the SAF or SemEval data was not found under {SAF_DIR.parents[1]}.", ()
        )
    chosen = {k: s for k, s in SPLITS.items() if s.quick or not ctx.quick}
    epochs = ctx.size(EPOCHS, 2)
    curves = {
        k: learning_curve(
            s.load(),
            seeds=tuple(range(ctx.size(s.orders, 1))),
            per_day=ctx.size(s.per_day, 50),
            epochs=epochs,
        )
        for k, s in chosen.items()
    }
    notes = [
        "A teacher grades a split's answers in a seeded random order, a fixed number a day (10 for SAF, 25 for "
        "SemEval), one grade a minute; each suggestion is made before the teacher's grade by what the device serves "
        "then, and binned by how many of the teacher's grades were known (`[from, to)`). The device trains each "
        f"evening when its scheduler allows ({epochs} epochs, fine-tuned from the base with an L2 pull toward it) and "
        "promotes a model only when it beats the model in service and the fallback on the newest grades (at least 20 "
        "held out, so never before about 100 grades) by the grades' negative log-likelihood.",
        "satchel (served): what the device suggests — the promoted model, else the fallback. Base + teacher "
        "features: the shipped base grader reading the teacher's earlier grades of similar answers (the fallback). "
        "Base grader: the shipped grader blind to the teacher. Most frequent grade: the teacher's most frequent "
        "grade before that day (no ranking: Pearson and QWK 0).",
        "Mean over the grading orders; n = items scored per bin, summed over orders. With n items an exact-accuracy "
        "difference below about 2 * sqrt(0.25 / n) (0.09 at n = 120, 0.06 at n = 300) is within noise. "
        + "; ".join(
            f"{chosen[k].title}: {len(c.seeds)} order(s), {c.trainings} trainings, {c.promoted} promoted"
            for k, c in curves.items()
        )
        + ".",
        "The base grader was trained on the SemEval-2013 2-way train split and the SAF `training` split only "
        "(`satchel_plugins.rubric.train_base`). SAF `unseen_questions` are 4 questions it never saw; SAF "
        "`unseen_answers` are new answers to its 18 training questions, graded by the grader it learned from, so "
        "the teacher's first grades add little to it there. SemEval `test_ua` are new answers to training "
        "questions, `test_uq` new questions. SAF scores (0-1, partial credit) are on 0..4 (quarter steps).",
    ]
    tables = tuple(
        _table(chosen[k].title, c, notes if i == 0 else []) for i, (k, c) in enumerate(curves.items())
    )
    intro = (
        "Does the grading assistant agree with a teacher, and does it get closer as they grade? Pearson "
        "correlation of the expected grade, quadratic weighted kappa (QWK) and exact accuracy of the suggested grade "
        "against the teacher's grade, on real graded short answers (SAF, English part, ../shared/data: networking "
        "course answers graded 0-1 with partial credit by a course grader, the teacher here; and SemEval-2013 "
        "2-way, correct/incorrect). The replay is satchel's device replay (`satchel.evaluation.replay`, behind "
        "`satchel evaluate`): a temporary encrypted app, the pipeline's scheduler and promotion rule, ONNX Runtime "
        "training."
    )
    return Section(
        "rubric", title, intro, tables, (_plot(ctx, {chosen[k].title: c for k, c in curves.items()}),)
    )


def _table(title: str, curve: LearningCurve, notes: list[str]) -> Table:
    bins = [f"{lo}-{hi - 1}" if hi is not None else f"{lo}+" for lo, hi in curve.bins]
    table = TableBuilder(
        f"{title}: agreement vs the teacher's corrections known", ("metric", "predictor", *bins)
    )
    table.add("n", "(items)", *curve.n)
    for metric in METRICS:
        for p in ("satchel", "fallback", "base_grader", "most_frequent_grade"):
            table.add(NAMES[metric], LABELS[p], *curve.values[p][metric])
    table.notes.extend(notes)
    return table.build()


def _plot(ctx: Context, curves: Mapping[str, LearningCurve]) -> Path:
    plt = pyplot()
    fig, axes = plt.subplots(len(curves), len(METRICS), figsize=(13, 3.4 * len(curves)), squeeze=False)
    for row, (title, curve) in zip(axes, curves.items()):
        x = np.arange(len(curve.bins))
        for ax, metric in zip(row, METRICS):
            for p in (*PREDICTORS, "fallback"):
                ax.plot(
                    x,
                    curve.values[p][metric],
                    marker="o",
                    ms=3,
                    label=LABELS[p],
                    ls="--" if p in ("base_grader", "most_frequent_grade") else "-",
                )
            ax.set(
                title=f"{title}: {NAMES[metric]}",
                xticks=x,
                xticklabels=[str(lo) for lo, _ in curve.bins],
                xlabel="teacher grades known",
            )
    axes[0][0].legend(fontsize=8)
    fig.suptitle("Suggestions vs the teacher's grade as they grade (device replay)")
    fig.tight_layout()
    return save_plot(fig, ctx, "quality_rubric")
