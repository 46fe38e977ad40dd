"""Grading assistance: quadratic weighted kappa and accuracy of the SemEval base grader, and of the grader
adapted to a teacher's corrections, on the SemEval-2013 test splits in ../shared/data.

The evaluation code is :mod:`satchel_plugins.rubric.evaluate`, the same code
``tests/plugins/test_quality_rubric.py`` asserts on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from benchmarks.apps import litert_trainers
from benchmarks.report import SEMEVAL_CSV, Context, Section, Table, TableBuilder, pyplot, save_plot
from satchel_plugins.rubric.evaluate import (
    CORRECTIONS,
    SEMEVAL_TEACHER,
    TEACHERS,
    AdaptationCurve,
    adaptation_curve,
    features,
)
from satchel_plugins.rubric.semeval import load_semeval
from satchel_plugins.rubric.simulate import RUBRICS

SPLITS = {"test_ua": "unseen answers", "test_uq": "unseen questions", "test_ud": "unseen domains"}
SCALES = {SEMEVAL_TEACHER: 1, **RUBRICS}


def run(ctx: Context) -> Section:
    title = "Grading assistance: adaptation to the teacher"
    if not SEMEVAL_CSV.exists():
        return Section("rubric", title, f"Skipped: the SemEval-2013 data was not found at {SEMEVAL_CSV}.", ())
    seeds, epochs = tuple(range(ctx.size(10, 1))), 50
    open_trainer, backend_sentence = litert_trainers(ctx)
    curves: dict[str, dict[str, AdaptationCurve]] = {}
    for split in SPLITS:
        answers = load_semeval(SEMEVAL_CSV, splits=(split,))
        x = features(answers)
        curves[split] = {name: adaptation_curve(open_trainer, answers, x, name, seeds=seeds, epochs=epochs)
                         for name in TEACHERS}
    notes = [
        f"Teachers grade a split's answers in a random order; after their first n grades the grader is fine-tuned "
        f"from the base weights ({epochs} epochs, L2 pull toward the base) and scores every answer after the first "
        f"{max(CORRECTIONS)} (held out: " + ", ".join(f"{s} {c[SEMEVAL_TEACHER].held_out:,}" for s, c in
                                                       curves.items()) + " answers). n = 0 is the base grader.",
        f"Mean over {len(seeds)} seed(s) (grading order, teacher noise, training shuffle)"
        + (f"; mean standard deviation over seeds: {_mean_sd(curves):.3f} QWK." if len(seeds) > 1 else "."),
        f"(a) `{SEMEVAL_TEACHER}`: the teacher's grades are the SemEval gold labels. (b) simulated teachers whose "
        "rubric differs (`satchel_plugins.rubric.simulate`): `partial_credit` 0-3 by correctness and coverage of "
        "the reference, `lenient` also credits incorrect answers covering half the reference, `strict` wants "
        "eight words and no extra negation; 5% of their scores move one step.",
    ]
    tables = (_table("Quadratic weighted kappa vs teacher corrections", curves, "qwk", notes),
              _table("Exact accuracy vs teacher corrections", curves, "accuracy",
                     ["Same runs as the QWK table; accuracy counts suggested scores equal to the teacher's."]))
    intro = (
        "Does the grading assistant move toward a teacher's own rubric as they correct it? Quadratic weighted "
        "kappa (QWK) and exact accuracy of suggested scores on held-out answers of the SemEval-2013 Task 7 test "
        "splits (../shared/data; `test_ua` unseen answers to training questions, `test_uq` unseen questions, "
        "`test_ud` unseen domains), after 0 (the shipped base grader, trained on the SemEval train split) to "
        f"{max(CORRECTIONS)} corrections. {backend_sentence} The evaluation is `satchel_plugins.rubric.evaluate`, "
        "which `tests/plugins/test_quality_rubric.py` asserts on (QWK rises with corrections for teachers whose "
        "rubric differs).")
    return Section("rubric", title, intro, tables, (_plot(ctx, curves),))


def _mean_sd(curves: Mapping[str, Mapping[str, AdaptationCurve]]) -> float:
    return float(np.mean([c.qwk_sd for by_teacher in curves.values() for c in by_teacher.values()]))


def _table(title: str, curves: Mapping[str, Mapping[str, AdaptationCurve]], metric: str, notes: list[str]) -> Table:
    columns = ("split", "teacher (scale)", *(f"{n} (base)" if n == 0 else str(n) for n in CORRECTIONS),
               f"{max(CORRECTIONS)} − base")
    table = TableBuilder(title, columns)
    for split, by_teacher in curves.items():
        for name, curve in by_teacher.items():
            values = getattr(curve, metric)
            table.add(split, f"{'(a) ' if name == SEMEVAL_TEACHER else '(b) '}{name} (0-{SCALES[name]})", *values,
                      values[-1] - values[0])
    table.notes.extend(notes)
    return table.build()


def _plot(ctx: Context, curves: Mapping[str, Mapping[str, AdaptationCurve]]) -> Path:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(curves), figsize=(13, 3.9), sharey=True)
    for ax, (split, by_teacher) in zip(axes, curves.items()):
        for name, curve in by_teacher.items():
            qwk, sd = np.array(curve.qwk), np.array(curve.qwk_sd)
            line, = ax.plot(curve.corrections, qwk, marker="o", ms=3, label=name,
                            ls="--" if name == SEMEVAL_TEACHER else "-")
            ax.fill_between(curve.corrections, qwk - sd, qwk + sd, color=line.get_color(), alpha=0.12)
        ax.set(title=f"{split} ({SPLITS[split]})", xlabel="teacher corrections", xticks=CORRECTIONS)
    axes[0].set_ylabel("QWK on held-out answers")
    axes[0].legend(fontsize=8)
    seeds = len(next(iter(curves.values()))[SEMEVAL_TEACHER].seeds)
    fig.suptitle("Grader adapted to each teacher vs number of corrections (0 = base"
                 + (f"; mean of {seeds} seeds, band ±1 sd)" if seeds > 1 else "; one seed)"))
    return save_plot(fig, ctx, "quality_rubric")
