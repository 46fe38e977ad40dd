"""Vocabulary recall prediction, srs-benchmark style: the learner's neural half-life regression against
FSRS-6 (default parameters), classic half-life regression and a constant, on simulated learners.

The evaluation code is :mod:`satchel_plugins.language.evaluate`, the same code
``tests/plugins/test_quality_language.py`` asserts on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from benchmarks.apps import litert_trainers
from benchmarks.report import Context, Section, Table, TableBuilder, pyplot, save_plot
from satchel_plugins.language.evaluate import (
    PREDICTORS,
    LearnerComparison,
    OnlineScores,
    compare_on_learner,
    mean_scores,
)
from satchel_plugins.language.simulate import SimulatedVocabularyLearner, simulate_vocabulary_learners

NAMES = {"hlr": "satchel neural HLR (own model)", "fsrs6": "FSRS-6, default parameters",
         "classic_hlr": "classic HLR (Settles & Meeder 2016)", "constant": "constant (recall rate so far)"}
SEED, FOLDS = 1, 5


def run(ctx: Context) -> Section:
    n_learners, days, words, epochs = ctx.size(24, 4), ctx.size(240, 120), ctx.size(100, 60), 10
    open_trainer, backend_sentence = litert_trainers(ctx)
    learners = simulate_vocabulary_learners(n_learners, days=days, words=words, seed=SEED)
    comparisons = [compare_on_learner(open_trainer, learner.events, now=learner.end, epochs=epochs, n_folds=FOLDS)
                   for learner in learners]
    scores = mean_scores(comparisons)
    table = TableBuilder(f"Recall prediction, each review predicted before it is seen: {n_learners} simulated "
                         "learners", ("predictor", "log loss", "AUC", "RMSE(bins)", "learners where it beats FSRS-6"))
    for name in PREDICTORS:
        s = scores[name]
        table.add(NAMES[name], s.log_loss, s.auc, s.rmse_bins, "—" if name == "fsrs6" else _beats(comparisons, name))
    table.notes += [
        f"{n_learners} simulated learners (seed {SEED}; memory from fast to slow forgetters), {words} words over "
        f"{days} days each, reviewed on a Leitner schedule with jittered intervals; {scores['hlr'].n:,} reviews of "
        "words seen before are scored.",
        f"srs-benchmark protocol: each learner's reviews are cut in time order into {FOLDS + 1} chunks and chunk k "
        "is predicted by a model fitted on chunks 0…k-1 (chunk 0 is never scored). Metrics are computed per "
        "learner and averaged weighted by reviews; RMSE(bins) bins reviews by elapsed days, review number and "
        "lapses. Lower log loss and RMSE(bins), higher AUC are better.",
        f"satchel's model starts from the task's base parameters at each fold ({epochs} epochs). FSRS-6 replays "
        "each card's reviews through the `fsrs` package with default parameters (no optimizer run). Classic HLR "
        "is fitted by maximum likelihood on the same folds (NumPy, `fit_classic_hlr`).",
        "'learners where it beats FSRS-6' compares per-learner log loss.",
    ]
    intro = (
        "How well does the learner's on-device half-life regression predict whether a word will be recalled, "
        "compared with FSRS-6 at its default parameters (the scheduler most apps would ship), classic "
        "half-life regression and a constant? ../shared/data holds no real vocabulary review log, so this "
        f"section uses simulated learners only. {backend_sentence} The evaluation is "
        "`satchel_plugins.language.evaluate`, which `tests/plugins/test_quality_language.py` asserts on (the "
        "neural model beats FSRS-6, classic HLR and the constant on log loss and RMSE(bins)).")
    return Section("language", "Vocabulary review: personalization quality", intro,
                   (table.build(), _per_learner(learners, comparisons)), (_plot(ctx, comparisons, scores),))


def _beats(comparisons: Sequence[LearnerComparison], name: str) -> str:
    wins = sum(c.scores()[name].log_loss < c.scores()["fsrs6"].log_loss for c in comparisons)
    return f"{wins}/{len(comparisons)}"


def _per_learner(learners: Sequence[SimulatedVocabularyLearner], comparisons: Sequence[LearnerComparison]) -> Table:
    table = TableBuilder("Log loss per simulated learner", ("learner", "memory scale", "reviews scored",
                                                             *(NAMES[p].split(" (")[0] for p in PREDICTORS)))
    for learner, comparison in zip(learners, comparisons):
        s = comparison.scores()
        table.add(learner.subject, learner.memory.scale, len(comparison.y), *(s[p].log_loss for p in PREDICTORS))
    table.notes.append("Memory scale multiplies every half-life of the learner (0.5 forgets fast, 4 slowly): "
                       "FSRS-6's default parameters describe an average learner; the other models are fitted.")
    return table.build()


def _plot(ctx: Context, comparisons: Sequence[LearnerComparison], scores: Mapping[str, OnlineScores]) -> Path:
    plt = pyplot()
    y = np.concatenate([c.y for c in comparisons])
    fig, (cal, bars) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1.1, 1]})
    edges = np.linspace(0.0, 1.0, 11)
    for name in PREDICTORS:
        p = np.concatenate([c.predictions[name] for c in comparisons])
        which = np.clip(np.digitize(p, edges) - 1, 0, len(edges) - 2)
        used = np.flatnonzero(np.bincount(which, minlength=len(edges) - 1) >= 20)
        cal.plot([p[which == b].mean() for b in used], [y[which == b].mean() for b in used], "o-", ms=3,
                 label=NAMES[name])
    cal.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    cal.set(xlabel="predicted recall probability", ylabel="observed recall rate", xlim=(0, 1), ylim=(0, 1),
            title="calibration (bins of 0.1 with ≥ 20 reviews)")
    cal.legend(fontsize=7, loc="upper left")
    x = np.arange(3)
    width = 0.8 / len(PREDICTORS)
    for i, name in enumerate(PREDICTORS):
        s = scores[name]
        drawn = bars.bar(x + (i - (len(PREDICTORS) - 1) / 2) * width, [s.log_loss, s.rmse_bins, 1 - s.auc], width,
                         label=NAMES[name])
        bars.bar_label(drawn, fmt="%.2f", fontsize=6)
    bars.set_xticks(x, ["log loss", "RMSE(bins)", "1 − AUC"])
    bars.set_title("lower is better")
    fig.suptitle("Recall of simulated learners' reviews, each predicted before it is seen")
    return save_plot(fig, ctx, "quality_language")
