"""The app commands end to end through the CLI, on a real app."""

import json
from datetime import datetime, timedelta, timezone

from click.testing import CliRunner

from satchel.cli import cli

CONFIG = """
[app]
id = "cli-flow"
data_dir = "{data}"
key_dir = "{keys}"

[privacy]
key_provider = "insecure_file"

[pipelines.habits]
model = {{ name = "habit", options = {{ min_samples = 10 }} }}
purposes = ["habit_reminders"]
epochs = 3
"""


def run(*args):
    result = CliRunner().invoke(cli, list(args), obj={})
    return result.exit_code, result.output


def test_consent_ingest_train_predict_export_rotate_erase(tmp_path):
    cfg = tmp_path / "satchel.toml"
    cfg.write_text(CONFIG.format(data=(tmp_path / "data").as_posix(), keys=(tmp_path / "keys").as_posix()))
    c = ("--config", str(cfg))
    notice = tmp_path / "notice.txt"
    notice.write_text("We use your habit history on this device only.")
    code, out = run(
        "consent",
        "grant",
        "ada",
        "--purpose",
        "habit_reminders",
        "--notice-file",
        str(notice),
        "--policy-version",
        "2026-01",
        "--actor",
        "self",
        "--age-band",
        "8-12",
        "--method",
        "cli",
        *c,
    )
    assert code == 1 and "cannot consent alone" in out
    code, out = run(
        "consent",
        "grant",
        "ada",
        "--purpose",
        "habit_reminders",
        "--notice-file",
        str(notice),
        "--policy-version",
        "2026-01",
        "--actor",
        "guardian",
        "--age-band",
        "8-12",
        "--method",
        "cli",
        *c,
    )
    assert code == 0, out
    now = datetime.now(timezone.utc)
    lines = [
        json.dumps(
            {
                "subject": "ada",
                "type": "habit_completed",
                "time": (now - timedelta(days=d)).isoformat(),
                "data": {"habit": "reading"},
            }
        )
        for d in range(1, 150)
        if d % 3
    ]
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(lines))
    code, out = run("ingest", str(events), *c)
    assert code == 0 and f"stored {len(lines)} events" in out
    code, out = run("train", "--subject", "ada", "--pipeline", "habits", *c)
    assert code == 0 and "trained habits v1" in out and "promoted" in out, out
    code, out = run("predict", "--subject", "ada", "--pipeline", "habits", "--json", *c)
    data = json.loads(out)
    assert data["personalized"] and data["decisions"][0]["key"] == "reading"
    code, out = run("consent", "show", "ada", "--json", *c)
    assert json.loads(out)["habit_reminders"]["actor"] == "guardian"
    code, out = run("keys", "rotate", *c)
    assert code == 0 and "rotated master key" in out
    code, out = run(
        "predict", "--subject", "ada", "--pipeline", "habits", *c
    )  # still readable after rotation
    assert code == 0 and "model v1" in out
    code, out = run("export", "--subject", "ada", *c)
    exported = json.loads(out)
    assert len(exported["events"]) == len(lines) and exported["models"]["habits"]["version"] == 1
    code, out = run("audit", "--strict", "--fail-on", "critical", *c)
    assert code == 2 and "insecure" in out.lower()
    code, out = run("erase", "--subject", "ada", *c)
    assert code == 1 and "--yes" in out
    code, out = run("erase", "--subject", "ada", "--yes", *c)
    assert code == 0
    code, out = run("audit", "verify", *c)
    assert code == 0 and "audit log ok" in out
    code, out = run("predict", "--subject", "ada", "--pipeline", "habits", *c)
    assert code == 1 and out.startswith("error:") and "Traceback" not in out


GRADING = """
[app]
id = "cli-grading"
data_dir = "{data}"
key_dir = "{keys}"

[privacy]
key_provider = "insecure_file"

[pipelines.grading]
model = "rubric"
purposes = ["grading_assistance"]
epochs = 2
"""


def test_ingest_passes_importer_options_from_the_command_line(tmp_path):
    """A teacher's German gradebook: columns mapped with --map, the scale with --option."""
    cfg = tmp_path / "satchel.toml"
    cfg.write_text(GRADING.format(data=(tmp_path / "data").as_posix(), keys=(tmp_path / "keys").as_posix()))
    c = ("--config", str(cfg))
    notice = tmp_path / "notice.txt"
    notice.write_text("Your grades stay on this device.")
    code, out = run(
        "consent",
        "grant",
        "frau_berg",
        "--purpose",
        "grading_assistance",
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
        *c,
    )
    assert code == 0, out
    book = tmp_path / "noten.csv"
    book.write_bytes(
        "Schüler;Aufgabe;Antwort;Punkte\nAnna;A1;Strom fließt;2\nBen;A1;weiß nicht;0\n".encode("cp1252")
    )
    maps = (
        "--map",
        "student=Schüler",
        "--map",
        "question_id=Aufgabe",
        "--map",
        "student_answer=Antwort",
        "--map",
        "score=Punkte",
    )
    code, out = run(
        "ingest",
        str(book),
        "--source",
        "graded_answers_csv",
        "--subject",
        "frau_berg",
        *maps,
        "--option",
        "scale_max=4",
        "--json",
        *c,
    )
    assert code == 0, out
    assert json.loads(out)["stored"] == 4  # two submissions, two grades
    code, out = run("export", "--subject", "frau_berg", *c)
    graded = [e for e in json.loads(out)["events"] if e["type"] == "answer_graded"]
    assert [e["data"]["scale_max"] for e in graded] == [4, 4]

    code, out = run(
        "ingest",
        str(book),
        "--source",
        "graded_answers_csv",
        "--subject",
        "frau_berg",
        "--option",
        "colour=red",
        *c,
    )
    assert code == 1 and "option 'colour'" in out and "its options:" in out
    code, out = run("ingest", str(book), "--subject", "frau_berg", "--map", "score=Punkte", *c)
    assert code == 1 and "need --source" in out
    code, out = run("ingest", str(book), "--source", "graded_answers_csv", "--option", "scale_max", *c)
    assert code == 2 and "KEY=VALUE" in out


def test_a_consent_refusal_in_the_cli_names_the_cli_command(tmp_path):
    cfg = tmp_path / "satchel.toml"
    cfg.write_text(CONFIG.format(data=(tmp_path / "data").as_posix(), keys=(tmp_path / "keys").as_posix()))
    code, out = run("train", "--subject", "ada", "--pipeline", "habits", "--config", str(cfg))
    assert code == 1 and "refused" in out
    assert "satchel consent grant SUBJECT --purpose habit_reminders --notice-file" in out
    assert "app.consent.grant" not in out
