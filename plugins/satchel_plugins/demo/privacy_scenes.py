"""Sections 4-6 of the demo: a withdrawal and an erasure, a search of the data directory for plaintext,
and each app's privacy audit."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from satchel.errors import ConsentError
from satchel_plugins.demo.apps import HABITS
from satchel_plugins.demo.rendering import REFUSED, print_cells, say, section

if TYPE_CHECKING:
    from rich.console import Console

    from satchel.app import App

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


def rights(console: Console, habits: App, vocabulary: App) -> None:
    """Bruno withdraws his consent (and prediction is refused after it); Farah is erased."""
    section(
        console,
        4,
        "Learner rights: withdraw and erase",
        "A withdrawal takes effect at the next call; an erasure crypto-shreds the learner's key.",
    )
    habits.consent.withdraw("bruno", reason="turned reminders off")
    say(console, "withdrew", "bruno", "habit_reminders: his habit events and model are deleted at once")
    try:
        habits.predict("bruno", HABITS)
    except ConsentError as e:
        say(console, REFUSED, "bruno", f"predicting after the withdrawal: {e.message}")
    vocabulary.erase("farah")
    say(
        console,
        "erased",
        "farah",
        "records and models deleted and her key shredded: even an earlier "
        "backup of the data directory can no longer be decrypted",
    )


def look_inside(console: Console, data_root: Path, key_root: Path) -> None:
    """Search every file of the data directory for :data:`PLAINTEXT_PROBES` and say what was found."""
    files = [p for p in data_root.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    probes = [s.encode() for s in PLAINTEXT_PROBES]
    leaks = [p for p in files if any(s in p.read_bytes() for s in probes)]
    section(
        console,
        5,
        "Look inside the data directory",
        f"{len(files)} files, {size / 1e6:.1f} MB: event databases, sealed models, audit logs and "
        "compiled models. Searching every byte for learners' names, event types and answer words:",
    )
    if leaks:
        print_cells(
            console, ("[red]✗ found in " + ", ".join(str(p.relative_to(data_root)) for p in leaks),), ()
        )
    else:
        print_cells(
            console,
            (
                "[green]✓ no plaintext match[/]: learners are keyed pseudonyms, event types keyed "
                "tags, and contents AES-256-GCM ciphertext.",
            ),
            (),
        )
    print_cells(
        console,
        (f"The key directory {key_root} holds only wrapped keys; the master key never touched the disk.",),
        (),
    )


def audit(console: Console, apps: Sequence[App], full_report: bool) -> None:
    """Each app's consent coverage, findings and audit-log verification (and full reports if asked)."""
    from satchel.audit.report import render_text

    section(
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
        print_cells(
            console, (app.app_id, f"consent: {c.subjects_with_consent} learner(s) ({by}){minors}"), (17,)
        )
        print_cells(
            console,
            (
                "",
                f"data without consent: {c.subjects_with_data_without_consent}; findings: "
                f"{findings}; audit log {log}",
            ),
            (17,),
        )
        for f in report.findings:
            print_cells(console, ("", f"{f.severity.label.upper()}: {f.title}"), (17,))
    print_cells(console, (f"Protection: {reports[0].app.encryption}.",), ())
    if full_report:
        for report in reports:
            console.print()
            console.print(render_text(report), markup=False)
