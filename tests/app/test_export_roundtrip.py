"""`satchel export` output goes back in through `satchel ingest` unchanged: the same events come back."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from satchel.cli import cli

CONFIG = """
[app]
id = "{app}"
data_dir = "{root}/data"
key_dir = "{root}/keys"

[privacy]
key_provider = "insecure_file"

[pipelines.habits]
model = "habit"
purposes = ["habit_reminders"]

[pipelines.vocabulary]
model = "language"
purposes = ["vocabulary_scheduling"]
"""

EVENTS = [
    {
        "subject": "ada",
        "type": "habit_completed",
        "time": "2026-03-01T18:04:00+01:00",
        "data": {"habit": "reading"},
    },
    {
        "subject": "ada",
        "type": "habit_skipped",
        "time": "2026-03-02T09:00:00-05:00",
        "data": {"habit": "run", "value": 0.5},
    },
    {
        "subject": "ada",
        "type": "word_reviewed",
        "time": "2026-03-03T07:30:00Z",
        "data": {"item": "der Hund", "rating": 3, "response_ms": 5200.0, "kind": "review"},
        "id": "anki-1",
    },
    {
        "subject": "bob",
        "type": "habit_completed",
        "time": "2026-03-01T08:00:00Z",
        "data": {"habit": "reading"},
    },
]


def app(tmp_path: Path, name: str):
    """A CLI runner for an app under ``tmp_path/name`` where ada and bob consented to both purposes."""
    root = tmp_path / name
    root.mkdir()
    config = root / "satchel.toml"
    config.write_text(CONFIG.format(app=name, root=root.as_posix()))
    notice = root / "notice.txt"
    notice.write_text("Your history stays on this device.")

    def run(*args: str) -> str:
        result = CliRunner().invoke(cli, [*args, "-c", str(config)], obj={})
        assert result.exit_code == 0, result.output
        return result.output

    def grant(subject: str) -> None:
        for purpose in ("habit_reminders", "vocabulary_scheduling"):
            run(
                "consent",
                "grant",
                subject,
                "--purpose",
                purpose,
                "--notice-file",
                str(notice),
                "--policy-version",
                "1",
                "--actor",
                "self",
                "--age-band",
                "18+",
                "--method",
                "cli",
            )

    grant("ada")
    grant("bob")
    return run


def exported_events(run, subject: str, out: Path) -> list[dict]:
    run("export", "--subject", subject, "--out", str(out))
    return json.loads(out.read_text())["events"]


def test_export_ingests_unchanged_into_a_fresh_app_and_again_into_its_own(tmp_path):
    first = app(tmp_path, "first")
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(json.dumps(e) for e in EVENTS))
    assert "stored 4 events" in first("ingest", str(source))
    export = tmp_path / "ada.json"
    before = exported_events(first, "ada", export)
    assert len(before) == 3 and {e["type"] for e in before} == {
        "habit_completed",
        "habit_skipped",
        "word_reviewed",
    }
    original = export.read_bytes()

    fresh = app(tmp_path, "fresh")  # consent is not part of the import: the learner granted it anew
    assert "stored 3 events (0 already present)" in fresh("ingest", str(export))
    assert export.read_bytes() == original
    assert exported_events(fresh, "ada", tmp_path / "fresh.json") == before
    assert exported_events(fresh, "bob", tmp_path / "bob.json") == []  # only the exported learner moved

    assert "stored 0 events (3 already present)" in first("ingest", str(export))  # ids keep it idempotent
    assert exported_events(first, "ada", tmp_path / "again.json") == before


def test_the_export_can_be_imported_for_another_subject(tmp_path):
    run = app(tmp_path, "rename")
    source = tmp_path / "events.jsonl"
    source.write_text(json.dumps(EVENTS[0]))
    run("ingest", str(source))
    export = tmp_path / "ada.json"
    events = exported_events(run, "ada", export)
    assert "stored 1 events" in run("ingest", str(export), "--subject", "bob")
    assert exported_events(run, "bob", tmp_path / "bob.json") == events


def test_a_damaged_export_names_the_line_of_the_bad_event(tmp_path):
    run = app(tmp_path, "damaged")
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(json.dumps(e) for e in EVENTS[:3]))
    run("ingest", str(source))
    export = tmp_path / "ada.json"
    exported_events(run, "ada", export)
    lines = export.read_text().splitlines()
    bad = next(n for n, text in enumerate(lines, start=1) if '"word_reviewed"' in text)
    lines[bad - 1] = lines[bad - 1].replace('"word_reviewed"', '"Word Reviewed"')
    export.write_text("\n".join(lines))
    result = CliRunner().invoke(
        cli, ["ingest", str(export), "-c", str(tmp_path / "damaged" / "satchel.toml")], obj={}
    )
    start = max(n for n in range(1, bad + 1) if lines[n - 1].strip() == "{")  # the event's opening brace
    assert result.exit_code == 1 and f"ada.json line {start}: field 'type'" in result.output, result.output
