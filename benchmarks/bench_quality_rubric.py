"""Grading assistance on real graded data: satchel's suggestions vs the teacher, against the base
grader and the teacher's most frequent grade, as a device replays a teacher's gradebook.

The evaluation is :func:`satchel_plugins.rubric.evaluate.learning_curve` (satchel's own device replay,
the engine of ``satchel evaluate``), which ``tests/plugins/test_quality_rubric.py`` asserts on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from benchmarks.report import SEMEVAL_CSV, Context, Section, Table, TableBuilder, pyplot, save_plot
from satchel_plugins.rubric.evaluate import CORRECTIONS, METRICS, PREDICTORS, LearningCurve, learning_curve
from satchel_plugins.rubric.saf import SAF_DIR, load_saf

SPLITS = {"unseen_questions": "SAF unseen questions", "unseen_answers": "SAF unseen answers"}
LABELS = {"satchel": "satchel (served)", "fallback": "base + teacher features (no training)",
          "base_grader": "base grader", "most_frequent_grade": "most frequent grade"}
NAMES = {"pearson": "Pearson", "qwk": "QWK", "accuracy": "exact"}
PER_DAY, EPOCHS = 10, 10


def run(ctx: Context) -> Section:
    title = "Grading assistance: agreement with the teacher"
    if not (SAF_DIR.exists() and SEMEVAL_CSV.exists()):
        return Section("rubric", title, f"Skipped: the SAF or SemEval data was not found under {SAF_DIR.parents[1]}.", ())
    seeds = tuple(range(ctx.size(2, 1)))
    splits = tuple(SPLITS) if not ctx.quick else ("unseen_questions",)
    per_day, epochs = ctx.size(PER_DAY, 50), ctx.size(EPOCHS, 2)
    curves = {s: learning_curve(load_saf(splits=(s,)), seeds=seeds, per_day=per_day, epochs=epochs) for s in splits}
    notes = [
        f"A teacher grades a split's answers in a seeded random order, {per_day} a day, one grade a minute; each "
        "suggestion is made before the teacher's grade by what the device serves then, and binned by how many of "
        "the teacher's grades were known (`[from, to)`). The device trains each evening when its scheduler allows "
        f"({epochs} epochs, fine-tuned from the base with an L2 pull toward it) and promotes a model only when it beats "
        "the model in service and the fallback on the newest grades by the grades' negative log-likelihood.",
        "satchel (served): what the device suggests — the promoted model, else the fallback. Base + teacher "
        "features: the shipped base grader reading the teacher's earlier grades of similar answers (the fallback). "
        "Base grader: the shipped grader blind to the teacher. Most frequent grade: the teacher's most frequent "
        "grade before that day (no ranking: Pearson and QWK 0).",
        f"Mean over {len(seeds)} grading order(s); n = items scored per bin, summed over orders. "
        + "; ".join(f"{SPLITS[s]}: {c.trainings} trainings, {c.promoted} promoted" for s, c in curves.items()) + ".",
        "The base grader was trained on the SemEval-2013 2-way train split and the SAF `training` split only "
        "(`satchel_plugins.rubric.train_base`); `unseen_questions` are 4 questions it never saw, `unseen_answers` "
        "are new answers to the 18 training questions. SAF scores (0-1, partial credit) are on 0..4 (quarter steps).",
    ]
    tables = tuple(_table(s, c, notes if i == 0 else []) for i, (s, c) in enumerate(curves.items()))
    intro = (
        "Does the grading assistant agree with a teacher, and does it get closer as they grade? Pearson "
        "correlation of the expected grade, quadratic weighted kappa (QWK) and exact accuracy of the suggested grade "
        "against the teacher's grade, on real graded short answers (SAF, English part, ../shared/data: networking "
        "course answers graded 0-1 with partial credit by a course grader, the teacher here). The replay is "
        "satchel's device replay (`satchel.evaluation.replay`, behind `satchel evaluate`): a temporary encrypted app, "
        "the pipeline's scheduler and promotion rule, ONNX Runtime training.")
    return Section("rubric", title, intro, tables, (_plot(ctx, curves),))


def _table(split: str, curve: LearningCurve, notes: list[str]) -> Table:
    bins = [f"{lo}-{hi - 1}" if hi is not None else f"{lo}+" for lo, hi in curve.bins]
    table = TableBuilder(f"{SPLITS[split]}: agreement vs the teacher's corrections known",
                         ("metric", "predictor", *bins))
    table.add("n", "(items)", *curve.n)
    for metric in METRICS:
        for p in ("satchel", "fallback", "base_grader", "most_frequent_grade"):
            table.add(NAMES[metric], LABELS[p], *curve.values[p][metric])
    table.notes.extend(notes)
    return table.build()


def _plot(ctx: Context, curves: Mapping[str, LearningCurve]) -> Path:
    plt = pyplot()
    fig, axes = plt.subplots(len(curves), len(METRICS), figsize=(13, 3.6 * len(curves)), squeeze=False)
    for row, (split, curve) in zip(axes, curves.items()):
        x = np.arange(len(curve.bins))
        for ax, metric in zip(row, METRICS):
            for p in (*PREDICTORS, "fallback"):
                ax.plot(x, curve.values[p][metric], marker="o", ms=3, label=LABELS[p],
                        ls="--" if p in ("base_grader", "most_frequent_grade") else "-")
            ax.set(title=f"{SPLITS[split]}: {NAMES[metric]}", xticks=x,
                   xticklabels=[str(lo) for lo, _ in curve.bins], xlabel="teacher grades known")
    axes[0][0].legend(fontsize=8)
    fig.suptitle("Suggestions vs the teacher's grade as they grade (device replay)")
    fig.tight_layout()
    return save_plot(fig, ctx, "quality_rubric")
