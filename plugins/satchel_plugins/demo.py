"""``satchel demo``: three learning apps and a handful of simulated learners, end to end, on this device.

A habit tracker, a vocabulary app and a grading assistant, each a real :func:`satchel.open` app with
embedded settings: consent (a minor's own consent is refused, a guardian's accepted; recording
without consent is refused), events recorded and imported (an Anki review log, a gradebook CSV) and
sealed with AES-256-GCM, each learner's model trained by LiteRT with progress bars, their decisions,
a withdrawal and an erasure, and the privacy audit. Data goes to a fresh temporary directory (or
``--data-dir``), the key vaults to a separate temporary directory, and the master key is generated in
this process into an environment variable (key provider ``env``), so no key file is ever written.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from satchel_plugins._native_logs import quiet_native_logs

if TYPE_CHECKING:
    import numpy as np
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from satchel.app import App

KEY_VARIABLE = "SATCHEL_DEMO_KEY"
POLICY = "2026-01"
NOTICES = {
    "habit_reminders": "We use your habit history on this device only, to time reminders. Withdraw any time.",
    "vocabulary_scheduling": "We use your reviews on this device only, to schedule the next ones.",
    "grading_assistance": "We use your grades on this device only, to suggest grades in your style.",
}
CONFIG = """\
[app]
id = "{app_id}"
name = "{name} (satchel demo)"
data_dir = "{data}"
key_dir = "{keys}"

[privacy]
key_provider = {{ name = "env", options = {{ variable = "{variable}" }} }}
age_of_digital_consent = 13
retention_days = 365
purge_on_withdrawal = true

[pipelines.{pipeline}]
model = "{model}"
purposes = ["{purpose}"]
backend = "litert"
epochs = {epochs}
"""
HABITS, VOCABULARY, GRADING = "habits", "vocabulary", "grading"
REFUSED = "[red]✗ refused"
#: Strings that must never appear in plain text in the data directory.
PLAINTEXT_PROBES = (
    "amara",
    "bruno",
    "chloe",
    "dmitri",
    "elena",
    "farah",
    "ms_garcia",
    "mr_hughes",
    "habit_completed",
    "word_reviewed",
    "photosynthesis",
)


@dataclass(frozen=True)
class DemoApp:
    """One of the demo's apps: an id, a name and its single pipeline."""

    app_id: str
    name: str
    pipeline: str
    model: str
    purpose: str
    epochs: int

    def config(self, data_root: Path, key_root: Path) -> str:
        """Its satchel.toml: data and keys under separate roots, the master key from ``KEY_VARIABLE``."""
        return CONFIG.format(
            app_id=self.app_id,
            name=self.name,
            data=(data_root / self.app_id).as_posix(),
            keys=(key_root / self.app_id).as_posix(),
            variable=KEY_VARIABLE,
            pipeline=self.pipeline,
            model=self.model,
            purpose=self.purpose,
            epochs=self.epochs,
        )


APPS = (
    DemoApp("habit-tracker", "Habit tracker", HABITS, "habit", "habit_reminders", 30),
    DemoApp("vocab-app", "Vocabulary app", VOCABULARY, "language", "vocabulary_scheduling", 30),
    DemoApp("grading-assistant", "Grading assistant", GRADING, "rubric", "grading_assistance", 40),
)


@click.command()
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="keep the (encrypted) data here; a new or empty directory. Default: a temp dir",
)
@click.option("--full-report", is_flag=True, help="also print each app's full privacy audit report")
def demo(data_dir: Path | None, full_report: bool) -> None:
    """Simulated learners in three apps: consent, encrypted events, on-device training, decisions, audit."""
    from rich.console import Console

    if data_dir is not None and data_dir.exists() and any(data_dir.iterdir()):
        raise click.UsageError(f"{data_dir} is not empty; pass a new directory (each demo makes new keys)")
    console = Console(highlight=False)
    started = time.perf_counter()
    keys_dir = tempfile.TemporaryDirectory(prefix="satchel-demo-keys-")
    with keys_dir as keys, _master_key(), quiet_native_logs():
        if data_dir is None:
            with tempfile.TemporaryDirectory(prefix="satchel-demo-data-") as tmp:
                _run(console, Path(tmp), Path(keys), full_report)
        else:
            data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            _run(console, data_dir.resolve(), Path(keys), full_report)
    if data_dir is not None:
        console.print(
            f"\nThe data stays in {data_dir}, but its key vaults and master key are gone with this "
            "process: nobody can decrypt it any more."
        )
    console.print(
        f"\n[bold]Done in {time.perf_counter() - started:.1f} s.[/] Everything ran on this "
        "machine; nothing was sent anywhere."
    )


# ------------------------------------------------------------------ the run


def _run(console: Console, data_root: Path, key_root: Path, full_report: bool) -> None:
    import satchel
    from satchel.plugin.registry import Registry

    console.rule("[bold]satchel demo: on-device personalization with privacy controls")
    console.print(
        "Three learning apps adapt to simulated learners. Their events stay on this device, "
        "encrypted, and nothing is stored, trained or predicted without an opt-in consent."
    )
    _cells(console, ("data", str(data_root)), (14,))
    _cells(console, ("keys", f"{key_root} (temporary, apart from the data)"), (14,))
    _cells(
        console,
        (
            "master key",
            f"32 random bytes generated in this process into ${KEY_VARIABLE} "
            "(key provider 'env'): no key file is written",
        ),
        (14,),
    )
    registry = Registry()
    apps = [satchel.open(a.config(data_root, key_root), registry=registry) for a in APPS]
    try:
        _habits(console, apps[0])
        _vocabulary(console, apps[1])
        _grading(console, apps[2])
        _rights(console, apps[0], apps[1])
        _look_inside(console, data_root, key_root)
        _audit(console, apps, full_report)
    finally:
        for app in apps:
            app.close()


# ------------------------------------------------------------------ output helpers


def _section(console: Console, number: int, title: str, why: str) -> None:
    console.print()
    console.rule(f"[bold]{number}. {title}", align="left")
    console.print(why)


def _cells(console: Console, cells: Sequence[str], widths: Sequence[int]) -> None:
    """One line of fixed-width cells, indented; the last cell wraps under itself."""
    from rich.table import Table

    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=1)
    for width in widths:
        grid.add_column(width=width, no_wrap=True)
    grid.add_column()
    grid.add_row("", *cells)
    console.print(grid)


def _say(console: Console, mark: str, who: str, text: str) -> None:
    _cells(console, (mark, who, text), (10, 10))


def _table(title: str, *columns: str) -> Table:
    from rich.table import Table

    table = Table(title=title, title_justify="left", title_style="bold")
    for c in columns:
        table.add_column(c)
    return table


def _grant(
    console: Console,
    app: App,
    who: str,
    purpose: str,
    *,
    actor: str = "self",
    age_band: str = "18+",
    method: str = "in_app_checkbox",
) -> None:
    """Record a consent and print the outcome; a refusal is printed, not raised."""
    from satchel.errors import ConsentError

    label = f"{age_band}, {actor}" + (f", {method.replace('_', ' ')}" if actor != "self" else "")
    try:
        app.consent.grant(
            who,
            purposes=[purpose],
            notice=NOTICES[purpose],
            policy_version=POLICY,
            actor=actor,  # type: ignore[arg-type]
            age_band=age_band,
            method=method,
        )
    except ConsentError as e:
        _say(console, REFUSED, who, f"consent by {label}: {e.message}")
        return
    _say(console, "[green]✓ consent", who, label)


def _stored(console: Console, app: App, who: str, stored: int, how: str) -> None:
    pseudonym = app.pseudonym(who)[:10]
    _say(console, "[blue]● sealed", who, f"{stored} events {how}, as pseudonym {pseudonym}…")


def _training(console: Console, app: App, pipeline: str, who: Sequence[str], metric: str) -> None:
    """Train each learner's model with a progress bar that ends with the run's summary."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    _cells(
        console,
        (
            "Training each learner's own model here with LiteRT; the first run converts the model "
            "to a .tflite file, cached under the data dir.",
        ),
        (),
    )
    with Progress(
        TextColumn("  {task.description:<10}"),
        BarColumn(bar_width=16),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        for w in who:
            _train(progress, app, w, pipeline, metric)


def _train(progress: Progress, app: App, who: str, pipeline: str, metric: str) -> None:
    from satchel.model.backend import TrainingProgress

    task = progress.add_task(who, total=None, status="compiling & training…")

    def tick(p: TrainingProgress) -> None:
        progress.update(
            task,
            total=p.epochs * p.batches,
            completed=(p.epoch - 1) * p.batches + p.batch,
            status=f"epoch {p.epoch}/{p.epochs}, loss {p.loss:.3f}",
        )

    report = app.train(who, pipeline, progress=tick)
    held_out = report.metrics.get(f"holdout_{metric}", float("nan"))
    served = "model" if report.promoted else "kept what served"
    progress.update(
        task,
        status=f"✓ {report.context.samples} samples, held-out {metric} {held_out:.2f}, "
        f"{served}, v{report.checkpoint_version} sealed",
    )


# ------------------------------------------------------------------ 1. habits


def _habits(console: Console, app: App) -> None:
    from satchel_plugins.habit import simulate_habit_learners

    _section(
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
    _grant(console, app, "amara", "habit_reminders")
    _grant(console, app, "bruno", "habit_reminders")
    _grant(console, app, "chloe", "habit_reminders", age_band="8-12")
    _grant(console, app, "chloe", "habit_reminders", actor="guardian", age_band="8-12", method="signed_form")
    for who, sim in sims.items():
        _stored(console, app, who, app.record(who, list(sim.events)).stored, "recorded")
    _training(console, app, HABITS, names, "auc")
    table = _table(
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


def _vocabulary(console: Console, app: App) -> None:
    from satchel_plugins.language import simulate_vocabulary_learners, write_anki_csv

    _section(
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
    _grant(console, app, "dmitri", "vocabulary_scheduling")
    _grant(console, app, "elena", "vocabulary_scheduling")
    _grant(console, app, "farah", "vocabulary_scheduling", age_band="13-17")
    with tempfile.TemporaryDirectory(prefix="satchel-demo-import-") as tmp:
        revlog = Path(tmp) / "dmitri-revlog.csv"
        rows = write_anki_csv(revlog, sims["dmitri"].events)
        result = app.ingest(revlog, source="anki_revlog_csv", subject="dmitri")
    _stored(console, app, "dmitri", result.stored, f"imported from an Anki log of {rows} rows")
    for who in names[1:]:
        _stored(console, app, who, app.record(who, list(sims[who].events)).stored, "recorded")
    _training(console, app, VOCABULARY, names, "auc")
    table = _table(
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
    from satchel.errors import ConsentError

    try:
        app.record(who, list(events))
    except ConsentError as e:
        _say(console, REFUSED, who, f"recording before any consent: {e.message}")


def _until(iso: str) -> str:
    hours = (datetime.fromisoformat(iso) - datetime.now(timezone.utc)).total_seconds() / 3600
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} days"


# ------------------------------------------------------------------ 3. grading


def _grading(console: Console, app: App) -> None:
    from satchel_plugins.rubric import answer_events, rubric_score, simulate_teacher, synthetic_answers

    _section(
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
        _grant(console, app, who, "grading_assistance", method="staff_portal")
    garcia, hughes = teachers["ms_garcia"], teachers["mr_hughes"]
    events = answer_events(
        garcia.answers, garcia.scores[:graded].tolist(), start=datetime.now(timezone.utc) - timedelta(hours=3)
    )
    _stored(console, app, "ms_garcia", app.record("ms_garcia", list(events)).stored, "recorded")
    with tempfile.TemporaryDirectory(prefix="satchel-demo-import-") as tmp:
        gradebook = Path(tmp) / "hughes-gradebook.csv"
        _write_gradebook(gradebook, hughes.answers, hughes.scores[:graded], hughes.scale_max)
        result = app.ingest(gradebook, source="graded_answers_csv", subject="mr_hughes")
    _stored(
        console, app, "mr_hughes", result.stored, "imported from a gradebook CSV (Answer, Points, Out of)"
    )
    _training(console, app, GRADING, tuple(teachers), "accuracy")
    table = _table(
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
    side = _table(
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
            _short(text, 44),
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


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# ------------------------------------------------------------------ 4-6. rights, files, audit


def _rights(console: Console, habits: App, vocabulary: App) -> None:
    from satchel.errors import ConsentError

    _section(
        console,
        4,
        "Learner rights: withdraw and erase",
        "A withdrawal takes effect at the next call; an erasure crypto-shreds the learner's key.",
    )
    habits.consent.withdraw("bruno", reason="turned reminders off")
    _say(console, "withdrew", "bruno", "habit_reminders: his habit events and model are deleted at once")
    try:
        habits.predict("bruno", HABITS)
    except ConsentError as e:
        _say(console, REFUSED, "bruno", f"predicting after the withdrawal: {e.message}")
    vocabulary.erase("farah")
    _say(
        console,
        "erased",
        "farah",
        "records and models deleted and her key shredded: even an earlier "
        "backup of the data directory can no longer be decrypted",
    )


def _look_inside(console: Console, data_root: Path, key_root: Path) -> None:
    files = [p for p in data_root.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    probes = [s.encode() for s in PLAINTEXT_PROBES]
    leaks = [p for p in files if any(s in p.read_bytes() for s in probes)]
    _section(
        console,
        5,
        "Look inside the data directory",
        f"{len(files)} files, {size / 1e6:.1f} MB: event databases, sealed models, audit logs and "
        "compiled models. Searching every byte for learners' names, event types and answer words:",
    )
    if leaks:
        _cells(console, ("[red]✗ found in " + ", ".join(str(p.relative_to(data_root)) for p in leaks),), ())
    else:
        _cells(
            console,
            (
                "[green]✓ no plaintext match[/]: learners are keyed pseudonyms, event types keyed "
                "tags, and contents AES-256-GCM ciphertext.",
            ),
            (),
        )
    _cells(
        console,
        (f"The key directory {key_root} holds only wrapped keys; the master key never touched the disk.",),
        (),
    )


def _audit(console: Console, apps: Sequence[App], full_report: bool) -> None:
    from satchel.audit.report import render_text

    _section(
        console,
        6,
        "Privacy audit",
        "What a privacy officer sees (`satchel audit`, `satchel audit verify`): consent coverage, "
        "findings, and whether the hash-chained, keyed audit log verifies.",
    )
    reports = [app.audit_report() for app in apps]
    for app, report in zip(apps, reports):
        c = report.pipelines[0].coverage
        by = ", ".join(f"{n} {actor}" for actor, n in c.consent_by_actor.items() if n) or "none"
        minors = (
            f"; {c.minors} minor(s), {c.minors_guardian_or_school_consent} with a guardian's consent"
            if c.minors
            else ""
        )
        findings = ", ".join(f"{n} {label}" for label, n in report.summary().items() if n) or "none"
        verified = app.verify_audit_log()
        log = (
            f"[green]✓ verified, {verified.entries} entries[/]"
            if verified.ok
            else f"[red]✗ FAILED: {verified.problem}[/]"
        )
        _cells(console, (app.app_id, f"consent: {c.subjects_with_consent} learner(s) ({by}){minors}"), (17,))
        _cells(
            console,
            (
                "",
                f"data without consent: {c.subjects_with_data_without_consent}; findings: "
                f"{findings}; audit log {log}",
            ),
            (17,),
        )
        for f in report.findings:
            _cells(console, ("", f"{f.severity.label.upper()}: {f.title}"), (17,))
    _cells(console, (f"Protection: {reports[0].app.encryption}.",), ())
    if full_report:
        for report in reports:
            console.print()
            console.print(render_text(report), markup=False)


# ------------------------------------------------------------------ process plumbing


@contextmanager
def _master_key() -> Iterator[None]:
    """A fresh random master key in ``KEY_VARIABLE`` for the duration of the demo (never on disk)."""
    import base64
    import secrets

    previous = os.environ.get(KEY_VARIABLE)
    os.environ[KEY_VARIABLE] = base64.b64encode(secrets.token_bytes(32)).decode()
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(KEY_VARIABLE, None)
        else:
            os.environ[KEY_VARIABLE] = previous
