"""Fuzzing every file importer: any input gives events or one EventError naming the file, never a crash.

Inputs are built from the pieces that broke importers before (non-UTF-8 bytes, NaN and infinity,
integers past 2**53 or 4300 digits, times at the calendar's edge with an offset, lone surrogates,
deep nesting) mixed into files that are otherwise well formed, so the fuzzer reaches the checks
behind the header. Deterministic (``derandomize``) and bounded, for CI.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from satchel.errors import EventError
from satchel.events.ingest import read_file
from satchel.testing import isolated_registry

FUZZ = settings(
    derandomize=True,
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
REGISTRY = isolated_registry()

#: cell texts that crashed, or could crash, a parser
NASTY = [
    "nan",
    "NaN",
    "-inf",
    "inf",
    "Infinity",
    "1e999",
    "-1e999",
    "9" * 30,
    "9" * 4400,
    "1e15",
    "-1",
    "0",
    "1.5",
    "",
    " ",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "0001-01-01",
    "9999-12-31",
    "12-31-99",
    "2024-02-30",
    "2024-03-01T12:00:00",
    "2024-03-01T12:00:00Z",
    "2024-03-01T12:00:00+14:00",
    "1709294400000",
    "99999999999999999999",
    "YES_MANUAL",
    "UNKNOWN",
    "Entry(timestamp=1, value=2)",
    '"',
    '""',
    "a,b",
    "\u2028",
    "\x00",
    "ä",
]
GOOD = [
    "1",
    "2",
    "3",
    "4",
    "42",
    "2024-03-01",
    "2024-03-01T12:00:00+01:00",
    "1709294400000",
    "5200",
    "YES_MANUAL",
    "2",
    "0",
    "reading",
    "correct",
    "The sun",
    "Run",
    "NUMERICAL",
    "YES_NO",
    "AT_MOST",
    "7",
]
cells = st.one_of(st.sampled_from(NASTY), st.sampled_from(GOOD), st.text(max_size=8))


def _csv_line(row: list[str]) -> str:
    return ",".join(row)


@st.composite
def table(draw: st.DrawFn, headers: list[list[str]], column: st.SearchStrategy[str] = cells) -> str:
    """A CSV text: one of ``headers``, then rows mostly as wide as it (sometimes one cell off)."""
    header = draw(st.sampled_from(headers))
    widths = st.sampled_from([len(header)] * 4 + [len(header) - 1, len(header) + 1])
    rows = draw(st.lists(widths.flatmap(lambda n: st.lists(column, min_size=n, max_size=n)), max_size=5))
    return "\n".join([_csv_line(header), *(_csv_line(r) for r in rows)]) + draw(st.sampled_from(["", "\n"]))


@st.composite
def damaged(draw: st.DrawFn, text: st.SearchStrategy[str]) -> bytes:
    """``text`` as UTF-8, one time in four with a byte that is not UTF-8 (or a BOM) spliced in."""
    raw = draw(text).encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 3)) == 3:  # hypothesis favours small draws: 0 would damage most files
        at = draw(st.integers(0, len(raw)))
        raw = (
            raw[:at]
            + draw(st.sampled_from([b"\xff", b"\xc3", b"\x80", b"\xed\xa0\x80", b"\xef\xbb\xbf"]))
            + raw[at:]
        )
    return raw


@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory(prefix="satchel-fuzz-") as tmp:
        yield Path(tmp)


def only_event_errors(path: Path, source: str | None = None) -> None:
    try:
        events = read_file(path, REGISTRY, source=source)
    except EventError as e:
        assert path.name in str(e) or str(path) in str(e), str(e)
        assert "\n" not in e.message
    else:
        assert all(ev.subject and ev.line >= 1 for ev in events)


# ------------------------------------------------------------------ satchel's own formats

json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**60), 2**60),
    st.floats(),
    st.text(max_size=6),
    st.sampled_from(NASTY),
)
json_line = st.fixed_dictionaries(
    {"subject": st.one_of(st.just("ada"), st.text(max_size=4), st.integers(), st.just("\ud800"))},
    optional={
        "type": st.sampled_from(["habit_completed", "Bad Type", "", 7]),
        "time": st.one_of(st.sampled_from(NASTY), st.sampled_from(GOOD), st.floats(), st.integers()),
        "data": st.one_of(st.dictionaries(st.text(max_size=4), json_scalar, max_size=3), json_scalar),
        "id": st.one_of(st.text(max_size=6), st.integers()),
        "extra": json_scalar,
    },
)


def _dump(obj: object) -> str:
    return json.dumps(obj)  # NaN/Infinity go out as the tokens json.loads reads back


jsonl_text = st.lists(
    st.one_of(json_line.map(_dump), st.sampled_from(["[1]", "{", '"x"', "[" * 3000, "1" * 5000, ""])),
    max_size=5,
).map("\n".join)


@FUZZ
@given(damaged(jsonl_text))
def test_jsonl(scratch, raw):
    path = scratch / "events.jsonl"
    path.write_bytes(raw)
    only_event_errors(path)


@FUZZ
@given(
    damaged(
        table(
            [
                ["subject", "type", "time", "habit"],
                ["subject", "type", "time", "id", "value"],
                ["type", "time"],
                ['"subject"', "type", 'time"'],
            ]
        )
    )
)
def test_csv(scratch, raw):
    path = scratch / "events.csv"
    path.write_bytes(raw)
    only_event_errors(path)


export_doc = st.fixed_dictionaries(
    {
        "subject": st.one_of(st.just("ada"), st.just(""), st.integers(), st.just("\udfff")),
        "events": st.lists(st.one_of(json_line, json_scalar), max_size=4),
    },
    optional={
        "app_id": st.text(max_size=4),
        "models": st.dictionaries(st.text(max_size=3), json_scalar, max_size=2),
    },
)


@FUZZ
@given(
    damaged(
        st.one_of(
            st.builds(lambda d, indent: json.dumps(d, indent=indent), export_doc, st.sampled_from([None, 2])),
            st.sampled_from(["[]", "{}", '{"subject": "ada", "events": {}}', "{" * 2000]),
        )
    )
)
def test_export_json(scratch, raw):
    path = scratch / "export.json"
    path.write_bytes(raw)
    only_event_errors(path)


# ------------------------------------------------------------------ registered sources

anki_headers = [
    ["id", "cid", "usn", "ease", "ivl", "lastIvl", "factor", "time", "type"],
    ["card_id", "review_time", "review_rating", "review_state", "review_duration"],
    ["card_id", "rating", "review_datetime", "review_duration"],
    ["card_id", "rating", "review_time"],
    ["1709294400000", "42", "1", "3", "0", "0", "0", "5200", "0"],
    ["x", "y"],
]


@FUZZ
@given(damaged(table(anki_headers)))
def test_anki_revlog_csv(scratch, raw):
    path = scratch / "revlog.csv"
    path.write_bytes(raw)
    only_event_errors(path, "anki_revlog_csv")


sql_value = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([0, 1, 3, 4, 5, 1709294400000, 2**62]),
    st.floats(),
    st.text(max_size=4),
    st.binary(max_size=4),
    st.none(),
)


@settings(FUZZ, max_examples=50)  # each example writes an SQLite file
@given(st.lists(st.tuples(*[sql_value] * 5), max_size=4))
def test_anki_collection(scratch, rows):
    path = scratch / "collection.anki2"
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE revlog (id, cid, ease, time, type)")
    db.executemany("INSERT INTO revlog VALUES (?, ?, ?, ?, ?)", rows)
    db.commit()
    db.close()
    only_event_errors(path, "anki_collection")


def _either(*good: str) -> st.SearchStrategy[str]:
    """Mostly one of ``good``, else any cell: deep enough to reach the checks behind a valid header."""
    return st.integers(0, 4).flatmap(lambda i: cells if i == 4 else st.sampled_from(good))


loop_habit_row = st.tuples(
    _either("1"),
    _either("Run", '"Read, slowly"'),
    _either("YES_NO", "NUMERICAL"),
    _either("1"),
    _either("1", "7", "30"),
    _either("AT_LEAST", "AT_MOST"),
    _either("10.0", "0.5"),
)
loop_habits = st.lists(loop_habit_row, min_size=1, max_size=2).map(
    lambda rows: "\n".join(
        [
            "Position,Name,Type,FrequencyNumerator,FrequencyDenominator,Target Type,Target Value",
            *(",".join(r) for r in rows),
        ]
    )
)
loop_checkmarks = st.lists(
    st.tuples(_either("2024-03-01", "2024-03-02", "03-01-24"), _either("2", "0", "3", "12000")), max_size=5
).map(lambda rows: "\n".join(f"{d},{v}" for d, v in rows))
loop_root = table(
    [["Date", "Run", ""], ["Date", "Read", " slowly", ""], ["Date", "Walk", ""]], _either("2024-03-01", "2")
)


@FUZZ
@given(damaged(loop_habits), damaged(loop_checkmarks), damaged(loop_root), st.booleans())
def test_loop_export_folder(scratch, habits, checkmarks, root, with_root):
    folder = scratch / "loop"
    (folder / "001 Run").mkdir(parents=True, exist_ok=True)
    (folder / "Habits.csv").write_bytes(habits)
    (folder / "001 Run" / "Checkmarks.csv").write_bytes(checkmarks)
    (folder / "Checkmarks.csv").unlink(missing_ok=True)
    if with_root:
        (folder / "Checkmarks.csv").write_bytes(root)
    only_event_errors(folder, "loop_habits_csv")


@FUZZ
@given(damaged(loop_root))
def test_loop_lone_checkmarks(scratch, raw):
    path = scratch / "lone" / "Checkmarks.csv"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(raw)
    only_event_errors(path, "loop_habits_csv")


gradebook = table(
    [
        ["student", "question", "answer", "score", "scale_max", "graded_at"],
        ["Answer", "Points", "Max points", "timestamp"],
        ["", "answer", "label_2way"],
        ["id", "grade"],
    ]
)


@FUZZ
@given(damaged(st.builds(lambda t, d: t.replace(",", d), gradebook, st.sampled_from([",", ";", "\t"]))))
def test_gradebook(scratch, raw):
    path = scratch / "grades.csv"
    path.write_bytes(raw)
    only_event_errors(path, "graded_answers_csv")
