"""Loop Habit Tracker importer: the export ZIP, its folder and Checkmarks.csv across Loop's versions.

The fixtures are small files written the way Loop's exporter writes them (uhabits
HabitsCSVExporter / HabitList.writeCSV): Habits.csv quoted where needed, per-habit folders
``NNN Name`` with a sanitized name, a root Checkmarks.csv with unquoted names and trailing commas.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from ingest_app import consenting_app
from shared_data import LOOP_CSV, needs

from satchel.errors import EventError
from satchel_plugins.habit.loop_import import LoopHabitsImporter, LoopImportOptions

HABITS_2X = (
    "Position,Name,Type,Question,Description,FrequencyNumerator,FrequencyDenominator,Color,Unit,"
    "Target Type,Target Value,Archived?\n"
    '001,"Read, then write",YES_NO,Did you read?,,1,1,#FF8F00,,,,false\n'
    "002,Run,NUMERICAL,How far?,,1,1,#0288D1,km,AT_LEAST,5.0,false\n"
    "003,Sugar,NUMERICAL,How much?,,1,1,#D32F2F,g,AT_MOST,30.0,false\n"
)
# Loop 2.1+: symbolic values; the root file lost Read's 01-02 entry (uhabits issue 2336).
EXPORT_2X = {
    "Habits.csv": HABITS_2X,
    "Checkmarks.csv": "Date,Read, then write,Run,Sugar,\n"
    "2024-01-03,SKIP,6000,45000,\n2024-01-02,UNKNOWN,NO,UNKNOWN,\n2024-01-01,NO,4000,20000,\n",
    "001 Read then write/Checkmarks.csv": 'Date,Value,Notes\n2024-01-03,SKIP,"sick, rested"\n'
    "2024-01-02,YES_MANUAL,\n2024-01-01,NO,\n",
    "002 Run/Checkmarks.csv": "Date,Value,Notes\n2024-01-03,6000,\n2024-01-02,NO,\n2024-01-01,4000,\n",
    "003 Sugar/Checkmarks.csv": "Date,Value,Notes\n2024-01-03,45000,\n2024-01-01,20000,\n",
}


def write_zip(path: Path, files: dict[str, str], prefix: str = "") -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            z.writestr(prefix + name, text)
    return path


def write_folder(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def read(path: Path, **options) -> list:
    return list(LoopHabitsImporter(LoopImportOptions(**options)).read(path))


def table(events) -> dict[tuple[str, str], tuple[str, dict]]:
    return {
        (e.event.data["habit"], e.event.time.date().isoformat()): (e.event.type, e.event.data) for e in events
    }


def test_zip_export_of_loop_2_1_uses_habits_csv_and_per_habit_files(tmp_path):
    events = read(write_zip(tmp_path / "Loop Habits CSV 2024-01-03.zip", EXPORT_2X))
    got = table(events)
    assert got[("Read, then write", "2024-01-02")] == (
        "habit_completed",
        {"habit": "Read, then write", "implied": False},
    )
    assert got[("Read, then write", "2024-01-01")][0] == "habit_skipped"
    assert ("Read, then write", "2024-01-03") not in got  # SKIP: neither done nor missed
    assert got[("Run", "2024-01-03")] == ("habit_completed", {"habit": "Run", "value": 6.0})  # 6 km >= 5
    assert got[("Run", "2024-01-01")] == ("habit_skipped", {"habit": "Run", "value": 4.0})
    assert got[("Run", "2024-01-02")] == ("habit_skipped", {"habit": "Run", "value": 0.0})  # NO = amount 0
    assert got[("Sugar", "2024-01-01")][0] == "habit_completed"  # AT_MOST 30 g: 20 g is within
    assert got[("Sugar", "2024-01-03")] == ("habit_skipped", {"habit": "Sugar", "value": 45.0})
    assert len(events) == 7
    again = read(tmp_path / "Loop Habits CSV 2024-01-03.zip")
    assert [e.event.id for e in events] == [e.event.id for e in again] and len(
        {e.event.id for e in events}
    ) == 7
    assert read(tmp_path / "Loop Habits CSV 2024-01-03.zip", subject="ada")[0].event.id != events[0].event.id


def test_folder_layout_whichever_file_is_named(tmp_path):
    expected = [e.event.id for e in read(write_zip(tmp_path / "export.zip", EXPORT_2X))]
    root = write_folder(tmp_path / "Loop Habits CSV 2024-01-03", EXPORT_2X)
    for path in (root, root / "Habits.csv", root / "Checkmarks.csv"):
        assert sorted(e.event.id for e in read(path)) == sorted(expected)
    nested = write_zip(tmp_path / "rezipped.zip", EXPORT_2X, prefix="Loop Habits CSV 2024-01-03/")
    assert sorted(e.event.id for e in read(nested)) == sorted(expected)


def test_one_habit_folder_file_takes_its_name_and_target_from_habits_csv(tmp_path):
    root = write_folder(tmp_path / "export", EXPORT_2X)
    got = table(read(root / "002 Run" / "Checkmarks.csv"))
    assert set(got) == {("Run", "2024-01-01"), ("Run", "2024-01-02"), ("Run", "2024-01-03")}
    assert (
        got[("Run", "2024-01-03")][0] == "habit_completed"
        and got[("Run", "2024-01-01")][0] == "habit_skipped"
    )
    lone = write_folder(tmp_path / "lone", {"004 Meditate/Checkmarks.csv": "2024-01-01,2\n2024-01-02,1\n"})
    got = table(read(lone / "004 Meditate" / "Checkmarks.csv"))
    assert got[("Meditate", "2024-01-02")] == ("habit_completed", {"habit": "Meditate", "implied": True})


def test_root_file_alone_names_with_commas_come_from_habits_csv(tmp_path):
    files = {"Habits.csv": HABITS_2X, "Checkmarks.csv": EXPORT_2X["Checkmarks.csv"]}
    got = table(read(write_zip(tmp_path / "old.zip", files)))
    assert ("Read, then write", "2024-01-01") in got and ("Read, then write", "2024-01-02") not in got
    assert got[("Sugar", "2024-01-03")][0] == "habit_skipped"


def test_entry_cells_of_loop_2_0_3(tmp_path):
    habits = HABITS_2X.replace("AT_LEAST,5.0", "AT_LEAST,7.0")
    root = (
        "Date,Read, then write,Run,Sugar,\n"
        "2023-02-17,Entry(timestamp=2023-02-17, value=2),Entry(timestamp=2023-02-17, value=7000),"
        "Entry(timestamp=2023-02-17, value=-1),\n"
        "2023-02-16,Entry(timestamp=2023-02-16, value=0),Entry(timestamp=2023-02-16, value=6500),"
        "Entry(timestamp=2023-02-16, value=3),\n"
    )
    got = table(read(write_zip(tmp_path / "203.zip", {"Habits.csv": habits, "Checkmarks.csv": root})))
    assert got[("Read, then write", "2023-02-17")][0] == "habit_completed"
    assert got[("Read, then write", "2023-02-16")][0] == "habit_skipped"
    assert got[("Run", "2023-02-17")] == ("habit_completed", {"habit": "Run", "value": 7.0})
    assert got[("Run", "2023-02-16")] == ("habit_skipped", {"habit": "Run", "value": 6.5})
    assert not any(h == "Sugar" for h, _ in got)  # -1 no entry, 3 skip


def test_numeric_codes_of_loop_1_and_a_lone_checkmarks_with_targets(tmp_path):
    habits = (
        "Position,Name,Description,NumRepetitions,Interval,Color\n"
        "001,Read,,1,1,#FF8F00\n002,Pages,,1,1,#0288D1\n"
    )
    per_habit = {
        "001 Read/Checkmarks.csv": "2024-01-02,1\n2024-01-01,2\n",
        "002 Pages/Checkmarks.csv": "2024-01-02,0\n2024-01-01,12000\n",
    }
    files = {
        "Habits.csv": habits,
        "Checkmarks.csv": "Date,Read,Pages,\n2024-01-02,1,0,\n2024-01-01,2,12000,\n",
        **per_habit,
    }
    got = table(read(write_zip(tmp_path / "v1.zip", files)))
    assert got[("Read", "2024-01-02")] == ("habit_completed", {"habit": "Read", "implied": True})
    assert got[("Pages", "2024-01-01")] == (
        "habit_completed",
        {"habit": "Pages", "value": 12.0},
    )  # no target: > 0
    assert got[("Pages", "2024-01-02")] == ("habit_skipped", {"habit": "Pages", "value": 0.0})
    lone = tmp_path / "Checkmarks.csv"
    lone.write_text(files["Checkmarks.csv"])
    got = table(read(lone, targets={"Pages": 20.0}))
    assert got[("Pages", "2024-01-01")] == ("habit_skipped", {"habit": "Pages", "value": 12.0})
    got = table(read(lone, targets={"Pages": 20.0}, at_most={"Pages"}))
    assert got[("Pages", "2024-01-01")][0] == "habit_completed"


def test_measurable_habit_with_a_weekly_target_sums_the_week_as_loop_does(tmp_path):
    habits = HABITS_2X.replace("002,Run,NUMERICAL,How far?,,1,1,", "002,Run,NUMERICAL,How far?,,1,7,")
    run = "Date,Value,Notes\n2024-01-03,3000,\n2024-01-02,UNKNOWN,\n2024-01-01,2500,\n"
    got = table(read(write_folder(tmp_path / "x", {"Habits.csv": habits, "002 Run/Checkmarks.csv": run})))
    assert got[("Run", "2024-01-01")] == ("habit_skipped", {"habit": "Run", "value": 2.5})  # 2.5 of 5 km
    assert got[("Run", "2024-01-03")] == ("habit_completed", {"habit": "Run", "value": 3.0})  # 2.5 + 3 >= 5


@needs(LOOP_CSV)
def test_the_real_sample_checkmarks_still_imports():
    events = read(LOOP_CSV, subject="etienne")
    assert len(events) == 1527 and {e.event.type for e in events} == {"habit_completed", "habit_skipped"}
    sleep = [e.event.data["value"] for e in events if e.event.data["habit"] == "Durée sommeil"]
    assert len(sleep) == 107 and all(4 < v < 12 for v in sleep)


@needs(LOOP_CSV)
def test_satchel_ingest_of_the_real_sample(tmp_path, monkeypatch):
    app = consenting_app(tmp_path, monkeypatch, model="habit", purpose="habit_reminders", subject="etienne")
    try:
        first = app.ingest(LOOP_CSV, source="loop_habits_csv", subject="etienne")
        again = app.ingest(LOOP_CSV, source="loop_habits_csv", subject="etienne")
    finally:
        app.close()
    assert (first.stored, first.duplicates) == (1527, 0) and (again.stored, again.duplicates) == (0, 1527)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"Habits.csv": HABITS_2X, "002 Run/Checkmarks.csv": "Date,Value,Notes\n2024-01-03,lots,\n"},
            r"002 Run/Checkmarks.csv:2: field 'Value': 'lots' is not an integer or one of YES_MANUAL",
        ),
        (
            {"Habits.csv": HABITS_2X, "002 Run/Checkmarks.csv": "Date,Value,Notes\n03/01/2024,2,\n"},
            r"002 Run/Checkmarks.csv:2: field 'Date': '03/01/2024' is not a date",
        ),
        (
            {"Habits.csv": HABITS_2X.replace("YES_NO", "MOOD"), "Checkmarks.csv": "Date,\n"},
            r"Habits.csv:2: field 'Type': 'MOOD' is neither YES_NO nor NUMERICAL",
        ),
        (
            {"Habits.csv": HABITS_2X, "009 Swim/Checkmarks.csv": "2024-01-01,2\n"},
            r"009 Swim/Checkmarks.csv: folder '009 Swim' has no habit at position 9",
        ),
        (
            {
                "Habits.csv": HABITS_2X,
                "Checkmarks.csv": "Date,Read, and write,Run,Sugar,\n2024-01-01,2,0,0,\n",
            },
            r"Checkmarks.csv:1: the header's habit names do not match Habits.csv",
        ),
        ({"Scores.csv": "Date,Run\n"}, r"no Habits.csv in the ZIP"),
    ],
)
def test_broken_exports_get_a_clear_error_naming_file_line_and_field(tmp_path, files, message):
    with pytest.raises(EventError, match=message) as e:
        read(write_zip(tmp_path / "broken.zip", files))
    assert e.value.hint


def test_a_lone_checkmarks_with_comma_names_says_how_to_fix(tmp_path):
    path = tmp_path / "Checkmarks.csv"
    path.write_text("Date,Read, then write,Run,\n2024-01-01,2,4000,\n")
    with pytest.raises(EventError, match=r"Checkmarks.csv:2: 3 fields but the header names 4") as e:
        read(path)
    assert "Habits.csv" in e.value.hint


def test_unreadable_files_never_leak_a_raw_traceback(tmp_path):
    truncated = tmp_path / "cut.zip"
    truncated.write_bytes(write_zip(tmp_path / "whole.zip", EXPORT_2X).read_bytes()[:-40])
    with pytest.raises(EventError, match="cut.zip"):
        read(truncated)
    binary = tmp_path / "Checkmarks.csv"
    binary.write_bytes(b"Date,Run\n2024-01-01,\xff\xfe\n")
    with pytest.raises(EventError, match=r"Checkmarks.csv:2: byte 12 of the line \(0xff\) is not UTF-8"):
        read(binary)
    with pytest.raises(EventError, match="no such file or folder"):
        read(tmp_path / "missing.zip")
    with pytest.raises(EventError, match="at_most"):
        LoopHabitsImporter(LoopImportOptions(at_most={"Run"}))
