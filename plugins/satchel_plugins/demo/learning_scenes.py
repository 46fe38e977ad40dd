"""Sections 1-3 of the demo: the habit tracker, the vocabulary app and the grading assistant, each with
its simulated learners, their consents, recorded or imported events, training and decisions."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from satchel.errors import ConsentError
from satchel_plugins.demo.apps import GRADING, HABITS, VOCABULARY
from satchel_plugins.demo.rendering import REFUSED, say, section, short, titled_table
from satchel_plugins.demo.steps import grant, say_stored, train_learners

if TYPE_CHECKING:
    import numpy as np
    from rich.console import Console

    from satchel.app import App


def habits(console: Console, app: App) -> None:
    """Section 1: three learners' habits, a guardian's consent for a minor, and today's reminders."""
    from satchel_plugins.habit import simulate_habit_learners

    section(
        console,
        1,
        "Habit tracker: remind only when a habit is slipping",
        "Three learners with different rhythms, hidden from the model. Chloe is 10: her guardian must "
        "consent. A consent keeps only the SHA-256 of the notice shown; events are sealed with "
        "AES-256-GCM under the learner's own key.",
    )
    days = 150
    names = ("amara", "bruno", "chloe")
    start = datetime.now(timezone.utc).date() - timedelta(days=days)
    sims = dict(zip(names, simulate_habit_learners(len(names), days=days, start=start)))
    grant(console, app, "amara", "habit_reminders")
    grant(console, app, "bruno", "habit_reminders")
    grant(console, app, "chloe", "habit_reminders", age_band="8-12")
    grant(console, app, "chloe", "habit_reminders", actor="guardian", age_band="8-12", method="signed_form")
    for who, sim in sims.items():
        say_stored(console, app, who, app.record(who, list(sim.events)).stored, "recorded")
    train_learners(console, app, HABITS, names, "auc")
    table = titled_table(
        "Today's reminders: remind below 0.5, quiet from 0.8, nudge between",
        "learner",
        "rhythm",
        "habit",
        "P(done today)",
        "decision",
        "usual time",
    )
    colors = {"remind": "yellow", "nudge": "cyan", "quiet": "green"}
    for who, sim in sims.items():
        for d in app.predict(who, HABITS).decisions:
            hour = d.details.get("usual_hour")
            table.add_row(
                who,
                sim.rhythm,
                d.key,
                f"{d.score:.2f}",
                f"[{colors[d.action]}]{d.action}[/]",
                "–" if hour is None else f"{float(cast(float, hour)):.0f}:00",
            )
    console.print(table)


# ------------------------------------------------------------------ 2. vocabulary


def vocabulary(console: Console, app: App) -> None:
    """Section 2: three learners' reviews (one imported from an Anki log) and what is due."""
    from satchel_plugins.language import simulate_vocabulary_learners, write_anki_csv

    section(
        console,
        2,
        "Vocabulary app: review each word just before it is forgotten",
        "Three learners who forget at different speeds. Dmitri's reviews come from an Anki review "
        "log; Farah is 14, old enough to consent herself.",
    )
    days = 120
    names = ("dmitri", "elena", "farah")
    now = datetime.now(timezone.utc)
    sims = dict(
        zip(
            names,
            simulate_vocabulary_learners(len(names), days=days, words=40, start=now - timedelta(days=days)),
        )
    )
    _record_without_consent(console, app, "elena", sims["elena"].events[:5])
    grant(console, app, "dmitri", "vocabulary_scheduling")
    grant(console, app, "elena", "vocabulary_scheduling")
    grant(console, app, "farah", "vocabulary_scheduling", age_band="13-17")
    with tempfile.TemporaryDirectory(prefix="satchel-demo-import-") as tmp:
        revlog = Path(tmp) / "dmitri-revlog.csv"
        rows = write_anki_csv(revlog, sims["dmitri"].events)
        result = app.ingest(revlog, source="anki_revlog_csv", subject="dmitri")
    say_stored(console, app, "dmitri", result.stored, f"imported from an Anki log of {rows} rows")
    for who in names[1:]:
        say_stored(console, app, who, app.record(who, list(sims[who].events)).stored, "recorded")
    train_learners(console, app, VOCABULARY, names, "auc")
    table = titled_table(
        "Reviews at 90 % target retention",
        "learner",
        "due now",
        "most at risk (P recall now)",
        "next one due",
    )
    for who in names:
        decisions = app.predict(who, VOCABULARY).decisions
        due = [d for d in decisions if d.action == "review_now"]
        later = [d for d in decisions if d.action == "wait"]
        at_risk = ", ".join(f"{d.key} ({d.score:.2f})" for d in due[:2]) or "none"
        nxt = f"{later[0].key} in {_until(str(later[0].details['next_review']))}" if later else "–"
        table.add_row(who, f"{len(due)} of {len(decisions)}", at_risk, nxt)
    console.print(table)


def _record_without_consent(console: Console, app: App, who: str, events: Sequence[Any]) -> None:
    """Try to record before any consent and print the refusal."""
    try:
        app.record(who, list(events))
    except ConsentError as e:
        say(console, REFUSED, who, f"recording before any consent: {e.message}")


def _until(iso: str) -> str:
    """How long until the ISO time ``iso``, in hours, or days from 48 hours on."""
    hours = (datetime.fromisoformat(iso) - datetime.now(timezone.utc)).total_seconds() / 3600
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} days"


# ------------------------------------------------------------------ 3. grading


def grading(console: Console, app: App) -> None:
    """Section 3: two teachers' grades (one from a gradebook CSV) and the suggested grades."""
    from satchel_plugins.rubric import answer_events, rubric_score, simulate_teacher, synthetic_answers

    section(
        console,
        3,
        "Grading assistant: suggest grades in each teacher's own style",
        "Two teachers grade the same science answers: one marks right or wrong, leniently; the other gives "
        "0-3 points with partial credit, in a gradebook exported from a spreadsheet. Each starts from a base "
        "grader and adapts to that teacher's grades only; each suggestion carries every grade's probability "
        "and a 'check this one' flag.",
    )
    answers = synthetic_answers(per_question=12, seed=7)
    graded = 40
    teachers = {
        "ms_garcia": simulate_teacher(answers, "lenient", seed=3),
        "mr_hughes": simulate_teacher(answers, "partial_credit", seed=3),
    }  # same seed: same answers graded
    for who in teachers:
        grant(console, app, who, "grading_assistance", method="staff_portal")
    garcia, hughes = teachers["ms_garcia"], teachers["mr_hughes"]
    events = answer_events(
        garcia.answers, garcia.scores[:graded].tolist(), start=datetime.now(timezone.utc) - timedelta(hours=3)
    )
    say_stored(console, app, "ms_garcia", app.record("ms_garcia", list(events)).stored, "recorded")
    with tempfile.TemporaryDirectory(prefix="satchel-demo-import-") as tmp:
        gradebook = Path(tmp) / "hughes-gradebook.csv"
        _write_gradebook(gradebook, hughes.answers, hughes.scores[:graded], hughes.scale_max)
        result = app.ingest(gradebook, source="graded_answers_csv", subject="mr_hughes")
    say_stored(
        console, app, "mr_hughes", result.stored, "imported from a gradebook CSV (Answer, Points, Out of)"
    )
    train_learners(console, app, GRADING, tuple(teachers), "accuracy")
    table = titled_table(
        f"Suggestions for the {len(answers) - graded} ungraded answers",
        "teacher",
        "scale",
        "matches the teacher",
        "check these",
        "suggested",
    )
    decided: dict[str, dict[str, Any]] = {}
    for who, t in teachers.items():
        decisions = app.predict(who, GRADING).decisions
        decided[who] = {d.key: d for d in decisions}
        truth = {a.answer_id: rubric_score(t.rubric, a) for a in t.answers[graded:]}
        agree = sum(int(decided[who][k].details["suggested_score"]) == v for k, v in truth.items())
        review = sum(d.action == "needs_review" for d in decisions)
        table.add_row(
            who, f"0-{t.scale_max}", f"{agree} of {len(truth)}", str(review), str(len(decisions) - review)
        )
    console.print(table)
    side = titled_table(
        "Mr Hughes's suggestions (0-3), least certain first",
        "student answer",
        "grade",
        "P(0) P(1) P(2) P(3)",
        "",
    )
    for d in list(decided["mr_hughes"].values())[:4]:
        text = next(a.text for a in hughes.answers if a.answer_id == d.key)
        flag = "[yellow]check this one[/]" if d.action == "needs_review" else "[green]suggest[/]"
        side.add_row(
            short(text, 44),
            f"{d.details['suggested_score']}/3",
            " ".join(f"{p:.2f}" for p in d.details["probabilities"]),
            flag,
        )
    console.print(side)


def _write_gradebook(
    path: Path, answers: Sequence[Any], scores: Sequence[float] | np.ndarray, scale: int
) -> None:
    """A teacher's gradebook export, in its own column names: every answer, points for the graded ones."""
    import csv

    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["", "Question", "Model answer", "Answer", "Points", "Out of"])  # unnamed id column
        for i, a in enumerate(answers):
            graded = i < len(scores)
            out.writerow(
                [
                    a.answer_id,
                    a.question_text,
                    a.reference,
                    a.text,
                    f"{scores[i]:g}" if graded else "",
                    scale if graded else "",
                ]
            )
