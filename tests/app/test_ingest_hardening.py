"""Bad input to `satchel ingest` is one error line naming file, line and field, and nothing is stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from satchel.cli import cli

CONFIG = """
[app]
id = "ingest-hardening"
data_dir = "{data}"
key_dir = "{keys}"

[privacy]
key_provider = "insecure_file"

[pipelines.habits]
model = "habit"
purposes = ["habit_reminders"]

[pipelines.vocabulary]
model = "language"
purposes = ["vocabulary_scheduling"]
"""


def line(**fields: object) -> str:
    event = {
        "subject": "ada",
        "type": "habit_completed",
        "time": "2026-03-01T18:00:00+01:00",
        "data": {"habit": "reading"},
    }
    event.update(fields)
    return json.dumps(event)


@pytest.fixture
def satchel(tmp_path: Path):
    """Runs the CLI on an app where ada consented to both purposes; returns (exit code, output)."""
    config = tmp_path / "satchel.toml"
    config.write_text(CONFIG.format(data=(tmp_path / "data").as_posix(), keys=(tmp_path / "keys").as_posix()))
    notice = tmp_path / "notice.txt"
    notice.write_text("Your history stays on this device.")

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, [*args, "-c", str(config)], obj={})
        return result.exit_code, result.output

    for purpose in ("habit_reminders", "vocabulary_scheduling"):
        code, out = run(
            "consent",
            "grant",
            "ada",
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
        assert code == 0, out
    return run


def stored(run) -> int:
    code, out = run("export", "--subject", "ada")
    assert code == 0, out
    return len(json.loads(out)["events"])


def one_error_line(out: str) -> str:
    assert out.startswith("error:") and out.count("\n") == 1 and "Traceback" not in out, out
    assert "internal error" not in out
    return out


def test_non_utf8_byte_is_named_by_line(satchel, tmp_path):
    for name, text in [
        ("events.jsonl", line() + "\n" + line(data={"habit": "cafe"}).replace("cafe", "caf\udce9")),
        ("events.csv", "subject,type,time,habit\nada,habit_completed,2026-03-01T18:00:00Z,caf\udce9\n"),
    ]:
        path = tmp_path / name
        path.write_bytes(text.encode("utf-8", "surrogateescape"))  # a Latin-1 é: byte 0xe9
        code, out = satchel("ingest", str(path))
        assert code == 1 and f"{name}:2: byte" in one_error_line(out) and "0xe9" in out and "UTF-8" in out
    assert stored(satchel) == 0


@pytest.mark.parametrize(
    "time", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1850-06-01T00:00:00Z"]
)
def test_time_off_the_calendar_is_a_field_error(satchel, tmp_path, time):
    path = tmp_path / "events.jsonl"
    path.write_text(line() + "\n" + line(time=time))
    code, out = satchel("ingest", str(path))
    assert code == 1 and "events.jsonl line 2: field 'time'" in one_error_line(out) and "1900-2999" in out
    assert stored(satchel) == 0


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_payload_numbers_are_refused(satchel, tmp_path, value):
    path = tmp_path / "events.jsonl"
    path.write_text(
        line() + "\n" + line().replace('"habit": "reading"', f'"habit": "reading", "value": {value}')
    )
    code, out = satchel("ingest", str(path))
    assert code == 1 and "events.jsonl line 2: field 'data.value'" in one_error_line(out)
    assert "not a finite number" in out
    assert stored(satchel) == 0


@pytest.mark.parametrize("cell", ["nan", "inf", "-Infinity"])
def test_non_finite_text_a_payload_turns_into_a_number_is_refused(satchel, tmp_path, cell):
    """CSV cells are text: the payload model parses 'nan' into NaN, which must not be stored either."""
    path = tmp_path / "events.csv"
    path.write_text(
        f"subject,type,time,habit,value\nada,habit_completed,2026-03-01T18:00:00Z,reading,{cell}\n"
    )
    code, out = satchel("ingest", str(path))
    assert code == 1 and "events.csv line 2: field 'data.value'" in one_error_line(out)
    assert stored(satchel) == 0


@pytest.mark.parametrize("rating", ["NaN", "inf", "1e999", "9" * 5000])
def test_anki_rating_that_is_not_a_number(satchel, tmp_path, rating):
    path = tmp_path / "revlog.csv"
    path.write_text(f"card_id,rating,review_time\n42,3,1709294400000\n42,{rating},1709380800000\n")
    code, out = satchel("ingest", str(path), "--source", "anki_revlog_csv")
    assert code == 1 and "revlog.csv:3: field 'rating'" in one_error_line(out)
    assert stored(satchel) == 0


@pytest.mark.parametrize(
    "bad_last",
    [
        line(type="no_such_type"),  # passes parsing, fails the app's event types
        line(data={"habit": ""}),  # fails the payload model
        line(time="2026-03-01T18:00:00"),  # no time zone
        '{"subject": "ada", "type": "habit_completed"',  # not JSON
    ],
)
def test_a_bad_last_line_leaves_the_store_unchanged(satchel, tmp_path, bad_last):
    first = tmp_path / "first.jsonl"
    first.write_text(line(id="already-there"))
    assert satchel("ingest", str(first))[0] == 0
    path = tmp_path / "events.jsonl"
    good = [line(id=f"e{i}", time=f"2026-03-0{i}T18:00:00+01:00") for i in range(1, 6)]
    path.write_text("\n".join([*good, bad_last]) + "\n")
    code, out = satchel("ingest", str(path))
    assert code == 1 and "events.jsonl line 6" in one_error_line(out)
    assert stored(satchel) == 1


def test_subject_from_the_option_when_the_file_has_none(satchel, tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(
        json.dumps({"type": "habit_completed", "time": "2026-03-01T18:00:00Z", "data": {"habit": "run"}})
    )
    code, out = satchel("ingest", str(path))
    assert code == 1 and "field 'subject'" in one_error_line(out) and "--subject" in out
    code, out = satchel("ingest", str(path), "--subject", "ada")
    assert code == 0 and "stored 1 events" in out


LOOP_HABITS = "Position,Name,Type,FrequencyNumerator,FrequencyDenominator\n001,Run,YES_NO,1,1\n"


def test_a_folder_for_sources_that_read_folders(satchel, tmp_path):
    folder = tmp_path / "Loop Habits CSV 2026-03-05"
    (folder / "001 Run").mkdir(parents=True)
    (folder / "Habits.csv").write_text(LOOP_HABITS)
    (folder / "001 Run" / "Checkmarks.csv").write_text("Date,Value,Notes\n2026-03-02,2,\n2026-03-01,0,\n")
    code, out = satchel("ingest", str(folder))
    assert code == 1 and "is a folder" in one_error_line(out) and "loop_habits_csv" in out
    code, out = satchel("ingest", str(folder), "--source", "anki_revlog_csv")
    assert code == 1 and "reads files only" in one_error_line(out) and "loop_habits_csv" in out
    code, out = satchel("ingest", str(folder), "--source", "loop_habits_csv", "--subject", "ada")
    assert code == 0 and "stored 2 events" in out, out
