"""Vocabulary recall prediction as a device runs it: the language pipeline replayed day by day over a
real Anki review log (primary) and over simulated learners (secondary), against FSRS-6 with default
parameters, classic HLR and a constant on the same reviews.

The replay is :func:`satchel_plugins.language.evaluate.device_replay` (``satchel.evaluation.replay``),
the same code ``tests/plugins/test_quality_language.py`` asserts on.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.report import Context, Section, Table, TableBuilder
from satchel.evaluation.replay import FALLBACK, SATCHEL, PipelineReplay
from satchel_plugins.language.anki import write_anki_csv
from satchel_plugins.language.evaluate import device_replay, oldest_days
from satchel_plugins.language.simulate import simulate_vocabulary_learners

ANKI_CSV = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "anki_revlog_niplav" / "anki_reviews.csv"
)
PREDICTORS = {
    SATCHEL: "satchel (FSRS-6 state + per-learner network)",
    "fsrs6_default": "FSRS-6, default parameters",
    "hlr": "classic HLR (Settles & Meeder 2016)",
    "constant": "constant (recall rate so far)",
}
FITTED = "FSRS-6 fitted on past reviews (py-fsrs Optimizer)"
NO_TORCH = "not run: py-fsrs's Optimizer needs torch, which is not installed"
EPOCHS, QUICK_DAYS = 20, 240
TITLE = "Vocabulary review: personalization quality"


def run(ctx: Context) -> Section:
    tables: list[Table] = []
    if ANKI_CSV.exists():
        with tempfile.TemporaryDirectory() as tmp:
            export = oldest_days(ANKI_CSV, QUICK_DAYS, Path(tmp)) if ctx.quick else ANKI_CSV
            real = device_replay(export, epochs=EPOCHS)
        tables.append(_real_table(real, ctx.quick))
    n_learners, days, words = ctx.size(4, 2), ctx.size(120, 90), ctx.size(80, 50)
    learners = simulate_vocabulary_learners(n_learners, days=days, words=words, seed=1)
    replays = []
    with tempfile.TemporaryDirectory() as tmp:
        for learner in learners:
            path = Path(tmp) / f"{learner.subject}.csv"
            write_anki_csv(path, learner.events)
            replays.append(device_replay(path, epochs=EPOCHS, min_interval="1d"))
    tables.append(_simulated_table(replays, n_learners, days, words))
    intro = (
        "How well does the learner's on-device memory model predict whether a card will be recalled, replayed "
        "as a device lives it? Reviews arrive day by day in a temporary encrypted app; the pipeline's scheduler "
        "trains (refit from the base weights, safe promotion on the newest reviews), and every review a day or "
        "more after the previous review of its card is predicted by what serves *before* it is recorded. The "
        "baselines are fitted on earlier reviews only and score the same reviews. satchel's model is FSRS-6's "
        "memory state (difficulty, stability; computed by the plugin's own recurrences from every earlier "
        "review, same-day learning steps included; equal to py-fsrs to 1e-9 on the real log) plus a small "
        "per-learner network correcting the stability from the card's history (ratings 1-4, answer time, "
        "learning steps, counts), on FSRS-6's power-law forgetting curve. Untrained it *is* FSRS-6 with default "
        "parameters (the cold-start fallback). Trained with satchel's LiteRT backend; the quality test runs "
        "both backends. Lower log loss and RMSE(bins), higher AUC are better; RMSE(bins) bins reviews by elapsed "
        "days, review number and lapses as srs-benchmark does."
    )
    return Section("language", TITLE, intro, tuple(tables), ())


def _real_table(p: PipelineReplay, quick: bool) -> Table:
    scope = f"its oldest {QUICK_DAYS} days (--quick)" if quick else "the whole log"
    table = TableBuilder(
        f"Real Anki log (niplav), device replay of {scope}: recall of reviews a day or more apart",
        ("predictor", "log loss", "AUC", "RMSE(bins)", "reviews scored"),
    )
    for name, label in PREDICTORS.items():
        m = p.metrics[name]
        table.add(label, m["log_loss"], m["auc"], m["rmse_bins"], p.n)
    table.add(FITTED, NO_TORCH, "", "", "")
    ours, fsrs = p.metrics[SATCHEL], p.metrics["fsrs6_default"]
    table.notes += [
        'Data: a real Anki review log of one learner, 2021-01 to 2023-06, CC-BY-4.0: credit "niplav, niplav.site '
        "(github.com/niplav/site @ 768dd17f, data/anki_reviews.csv)\". Imported with satchel's `anki_revlog_csv` "
        "importer (ease 0 and manual reschedules skipped; revlog type gives learn/review/relearn).",
        f"Pipeline: `language` on litert, {EPOCHS} epochs, refit from the base weights, the `conditions` scheduler "
        f"training at most weekly: {p.trainings} trainings, {p.promoted} promoted; "
        f"{p.served_model:.0%} of the scored reviews were predicted by a personal model (the rest by the fallback, "
        f"FSRS-6 defaults: the fallback row equals FSRS-6's, {p.metrics[FALLBACK]['log_loss']:.4f}).",
        f"satchel vs FSRS-6 defaults: log loss {ours['log_loss'] / fsrs['log_loss'] - 1:+.1%}, AUC "
        f"{ours['auc'] - fsrs['auc']:+.3f}. FSRS-6 fitted on the learner's past reviews could not be measured here "
        "(py-fsrs's Optimizer imports torch).",
    ]
    return table.build()


def _simulated_table(replays: Sequence[PipelineReplay], n: int, days: int, words: int) -> Table:
    table = TableBuilder(
        f"Simulated learners, device replay: {n} learners",
        ("predictor", "log loss", "AUC", "RMSE(bins)", "reviews scored", "learners where it beats FSRS-6"),
    )
    weights = np.array([r.n for r in replays], np.float64)
    for name, label in PREDICTORS.items():
        mean = {
            k: float(np.average([r.metrics[name][k] for r in replays], weights=weights))
            for k in ("log_loss", "auc", "rmse_bins")
        }
        wins = sum(r.metrics[name]["log_loss"] < r.metrics["fsrs6_default"]["log_loss"] for r in replays)
        table.add(
            label,
            mean["log_loss"],
            mean["auc"],
            mean["rmse_bins"],
            int(weights.sum()),
            "—" if name == "fsrs6_default" else f"{wins}/{len(replays)}",
        )
    table.notes += [
        f"{n} simulated learners (seed 1; fast to slow forgetters with exponential forgetting, unlike FSRS's power "
        f"law), {words} words over {days} days each on a Leitner schedule; each replayed on its own, training at most "
        "daily. Metrics are per learner, averaged weighted by scored reviews.",
    ]
    return table.build()
