"""Habit personalization quality: each learner's own next-day model against non-personalized predictors.

Simulated learners (a population trains the global model; other learners are held out and split in
time) and the real Loop Habit Tracker export in ../shared/data. The evaluation code is
:mod:`satchel_plugins.habit.evaluate`, the same code ``tests/plugins/test_quality_habit.py`` asserts on.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from benchmarks.apps import litert_trainers
from benchmarks.report import LOOP_CSV, Context, Section, Table, TableBuilder, pyplot, save_plot
from satchel_plugins.habit.evaluate import (
    PREDICTORS,
    BinaryScores,
    HabitEvaluation,
    evaluate_loop_export,
    evaluate_simulated,
    fit_global_model,
    pool,
)
from satchel_plugins.habit.simulate import RHYTHMS, SimulatedHabitLearner, simulate_habit_learners

NAMES = {"personalized": "personalized (own model)", "global_model": "global model",
         "base_rate": "base rate", "same_as_yesterday": "same as yesterday", "cold_start_prior": "cold-start prior"}
SEED = 11


def run(ctx: Context) -> Section:
    n_learners, days, split_day, epochs = ctx.size(36, 12), ctx.size(180, 150), ctx.size(120, 100), ctx.size(15, 10)
    n_population = ctx.size(12, 6)  # every rhythm in the population
    open_trainer, backend_sentence = litert_trainers(ctx)
    learners = simulate_habit_learners(n_learners, days=days, seed=SEED)
    population, held_out = learners[:n_population], learners[n_population:]
    global_model = fit_global_model(open_trainer, population, epochs=epochs)
    per_learner = evaluate_simulated(open_trainer, held_out, global_model, split_day=split_day, epochs=epochs)
    sim = pool(per_learner)
    sim_scores = sim.scores()

    scored = {"simulated (held out)": sim_scores}
    tables = [_scores_table(
        f"Next-day habit completion: {len(held_out)} held-out simulated learners", sim_scores,
        [f"{n_learners} simulated learners (seed {SEED}), {days} days, 3 habits each, six rhythms in turn; "
         f"the first {n_population} are the population the global model is trained on (all their days), "
         f"the other {len(held_out)} are held out.",
         f"Time split per held-out learner: habit-days labelled before day {split_day} train their own model "
         f"({sim.n_train:,} habit-days in all), the {len(sim.y):,} later habit-days are scored, pooled over "
         f"learners. {epochs} epochs.",
         "base rate and same as yesterday (P(done | done today), P(done | not done today)) are fitted on the "
         "learner's own training days; the cold-start prior is the habit task's fallback (nothing fitted).",
         _wins(per_learner)]).build()]
    tables.append(_rhythm_table(held_out, per_learner))
    if LOOP_CSV.exists():
        real = evaluate_loop_export(open_trainer, LOOP_CSV, global_model, epochs=epochs)
        scored["real Loop export"] = real.scores()
        tables.append(_scores_table(
            "Next-day habit completion: the real Loop Habit Tracker export", scored["real Loop export"],
            ["One person's Loop `Checkmarks.csv` (../shared/data/loop_habits_sample, 32 habits, MIT), up to its "
             f"last logged day; the first 70% of days train ({real.n_train:,} habit-days), the last 30% "
             f"({len(real.y):,} habit-days) are scored. {epochs} epochs.",
             "There are no other real learners, so the global model here is the one trained on the simulated "
             "population above: it shows how far a model of other (simulated) people transfers to a real one."
             ]).build())
        loop_sentence = "and on the real Loop Habit Tracker export in ../shared/data"
    else:
        loop_sentence = f"(the real Loop export was not found at {LOOP_CSV}, so its table is skipped)"
    intro = (
        "Does each learner's own on-device model predict tomorrow's habit completions better than "
        "predictors that are not personalized? AUC (higher is better), log loss and Brier score (lower is "
        f"better) on held-out days of simulated learners {loop_sentence}. {backend_sentence} The evaluation "
        "is `satchel_plugins.habit.evaluate`, which `tests/plugins/test_quality_habit.py` asserts on "
        "(personalized beats every baseline on AUC, log loss and Brier).")
    return Section("habit", "Habit reminders: personalization quality", intro, tuple(tables), (_plot(ctx, scored),))


def _scores_table(title: str, scores: Mapping[str, BinaryScores], notes: list[str]) -> TableBuilder:
    table = TableBuilder(title, ("predictor", "AUC", "log loss", "Brier", "habit-days"))
    for name in PREDICTORS:
        s = scores[name]
        table.add(NAMES[name], s.auc, s.log_loss, s.brier, s.n)
    table.notes.extend(notes)
    return table


def _wins(per_learner: Sequence[HabitEvaluation]) -> str:
    counts = {name: sum(e.scores()["personalized"].auc > e.scores()[name].auc for e in per_learner)
              for name in PREDICTORS[1:]}
    return ("Per held-out learner, the own model has the higher AUC than: "
            + ", ".join(f"{NAMES[k]} {v}/{len(per_learner)}" for k, v in counts.items()) + ".")


def _rhythm_table(held_out: Sequence[SimulatedHabitLearner], per_learner: Sequence[HabitEvaluation]) -> Table:
    grouped: dict[str, list[HabitEvaluation]] = defaultdict(list)
    for learner, evaluation in zip(held_out, per_learner):
        grouped[learner.rhythm].append(evaluation)
    table = TableBuilder("AUC by simulated rhythm (held-out learners)",
                         ("rhythm", "learners", *(NAMES[p] for p in PREDICTORS)))
    for rhythm in (r for r in RHYTHMS if r in grouped):
        scores = pool(grouped[rhythm]).scores()
        table.add(rhythm, len(grouped[rhythm]), *(scores[p].auc for p in PREDICTORS))
    table.notes.append("Each rhythm is one kind of learner (e.g. `alternate` rests the day after a done day): "
                       "the global model must serve all kinds at once; a learner's own model only theirs.")
    return table.build()


def _plot(ctx: Context, scored: Mapping[str, Mapping[str, BinaryScores]]) -> Path:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    width = 0.8 / len(scored)
    x = np.arange(len(PREDICTORS))
    for ax, metric, label in ((axes[0], "auc", "AUC (higher is better)"),
                              (axes[1], "log_loss", "log loss (lower is better)")):
        for i, (setting, scores) in enumerate(scored.items()):
            values = [getattr(scores[p], metric) for p in PREDICTORS]
            bars = ax.bar(x + (i - (len(scored) - 1) / 2) * width, values, width, label=setting)
            ax.bar_label(bars, fmt="%.2f", fontsize=7)
        ax.set_xticks(x, [NAMES[p].replace(" ", "\n", 1) for p in PREDICTORS], fontsize=8)
        ax.set_ylabel(label)
        if metric == "auc":
            ax.set_ylim(0.4, 1.0)
            ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    axes[0].legend(fontsize=8, loc="upper right")
    fig.suptitle("Next-day habit completion on held-out days")
    return save_plot(fig, ctx, "quality_habit")
