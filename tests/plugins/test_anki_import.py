"""Anki importers: revlog CSV layouts (Anki's table, FSRS tools, satchel) and collections/packages.

Collections are built here with Anki's revlog schema (rslib's schema11: ``revlog(id, cid, usn, ease,
ivl, lastIvl, factor, time, type)``); packages are ZIPs laid out as Anki writes them (a ``meta``
member, ``collection.anki21``/``.anki21b`` beside a placeholder ``collection.anki2``).
"""

from __future__ import annotations

import hashlib
import sqlite3
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from ingest_app import consenting_app
from shared_data import ANKI_CSV, needs

from satchel.errors import EventError
from satchel_plugins.language.anki import AnkiImportOptions, AnkiReviewImporter
from satchel_plugins.language.anki_collection import AnkiCollectionImporter

# (id ms, cid, usn, ease, ivl, lastIvl, factor, time ms, type)
REVLOG = [
    (1714550400000, 42, 0, 3, -600, -60, 0, 5200, 0),  # learning step, good
    (1714636800000, 42, 0, 1, -600, 1, 2500, 8000, 1),  # review, again
    (1714640400000, 42, 0, 3, 1, -600, 2300, 4100, 2),  # relearning step
    (1714723200000, 42, 0, 2, 3, 1, 2300, 3000, 3),  # answered in a filtered deck
    (1714730000000, 42, 0, 0, 10, 3, 2300, 0, 4),  # manual "set due date"
    (1714740000000, 7, 0, 0, 0, 0, 0, 0, 1),  # ease 0: a reschedule, not an answer
    (1714809600000, 7, 0, 4, 4, 0, 2500, 61000, 1),  # review, easy
]
SCHEMA = (
    "CREATE TABLE revlog (id integer primary key, cid integer not null, usn integer not null, "
    "ease integer not null, ivl integer not null, lastIvl integer not null, factor integer not null, "
    "time integer not null, type integer not null)"
)


def make_collection(path: Path, rows=REVLOG, *, wal: bool = False) -> Path:
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    if wal:
        db.execute("PRAGMA journal_mode=WAL")
    db.execute(SCHEMA)
    db.executemany("INSERT INTO revlog VALUES (?,?,?,?,?,?,?,?,?)", rows)
    db.commit()
    db.close()
    return path


def make_package(path: Path, tmp: Path, member: str) -> Path:
    real = make_collection(tmp / "real.db").read_bytes()
    placeholder = make_collection(tmp / "placeholder.db", rows=[]).read_bytes()
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("meta", b"\x08\x02")
        z.writestr(member, real)
        if member != "collection.anki2":
            z.writestr("collection.anki2", placeholder)
        z.writestr("media", b"{}")
    return path


def events(importer, path: Path) -> list:
    return [s.event for s in importer.read(path)]


def summary(evs) -> list[tuple]:
    return [(e.data["item"], e.data["rating"], e.data.get("kind"), e.data.get("response_ms")) for e in evs]


EXPECTED = [
    ("42", 3, "learn", 5200.0),
    ("42", 1, "review", 8000.0),
    ("42", 3, "relearn", 4100.0),
    ("42", 2, None, 3000.0),
    ("7", 4, "review", 61000.0),
]


def revlog_csv(path: Path, header: bool = True) -> Path:
    lines = ["id,cid,usn,ease,ivl,lastIvl,factor,time,type"] if header else []
    lines += [",".join(map(str, r)) for r in REVLOG]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_revlog_csv_with_and_without_header(tmp_path):
    with_header = events(AnkiReviewImporter(), revlog_csv(tmp_path / "a.csv"))
    assert summary(with_header) == EXPECTED  # manual type 4 and ease-0 rows are not reviews
    assert with_header[0].time.isoformat() == "2024-05-01T08:00:00+00:00"
    without = events(AnkiReviewImporter(), revlog_csv(tmp_path / "b.csv", header=False))
    assert [e.id for e in without] == [e.id for e in with_header]


def test_fsrs_tool_layouts(tmp_path):
    optimizer = tmp_path / "revlog.csv"  # column order as fsrs-optimizer writes its revlog.csv
    optimizer.write_text(
        "review_time,card_id,review_rating,review_duration,review_state\n"
        "1714550400000,42,3,5200,0\n1714636800000,42,1,8000,2\n1714640400000,42,3,4100,3\n"
    )
    got = summary(events(AnkiReviewImporter(), optimizer))
    assert got == [("42", 3, "learn", 5200.0), ("42", 1, "review", 8000.0), ("42", 3, "relearn", 4100.0)]
    headerless = tmp_path / "plain.csv"  # the schema's order, no header
    headerless.write_text("42,1714550400000,3,1,5200\n42,1714636800000,0,2,0\n")
    assert summary(events(AnkiReviewImporter(), headerless)) == [("42", 3, "learn", 5200.0)]
    py_fsrs = tmp_path / "logs.csv"
    py_fsrs.write_text("card_id,rating,review_datetime,review_duration\n42,3,2024-05-01T08:00:00+00:00,\n")
    (e,) = events(AnkiReviewImporter(), py_fsrs)
    assert e.data == {"item": "42", "rating": 3} and e.id == events(AnkiReviewImporter(), optimizer)[0].id


def test_unknown_columns_get_an_error_listing_them_and_the_layouts(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("card,grade,when\n1,3,2024-05-01\n")
    with pytest.raises(
        EventError, match=r"export.csv:1: missing column\(s\) .*columns found: card, grade, when"
    ) as e:
        events(AnkiReviewImporter(), path)
    assert "Anki revlog" in e.value.hint and "FSRS optimizer" in e.value.hint and "py-fsrs" in e.value.hint
    path.write_text("id,cid,usn,ease,ivl,lastIvl,factor,time,type\n1714550400000,42,0,3,1,1,0,5,9\n")
    with pytest.raises(EventError, match=r"export.csv:2: field 'type': 9 is not one of \[0, 1, 2, 3, 4, 5\]"):
        events(AnkiReviewImporter(), path)
    path.write_bytes(b"card_id,rating,review_time\n1,3,\xff\n")
    with pytest.raises(EventError, match="not UTF-8"):
        events(AnkiReviewImporter(), path)


@pytest.mark.parametrize("member", ["collection.anki2", "collection.anki21"])
def test_packages_and_the_csv_of_the_same_reviews_give_the_same_events(tmp_path, member):
    package = make_package(tmp_path / "deck.apkg", tmp_path, member)
    from_package = events(AnkiCollectionImporter(), package)
    assert summary(from_package) == EXPECTED  # the placeholder collection.anki2 is not read
    from_csv = events(AnkiReviewImporter(), revlog_csv(tmp_path / "revlog.csv"))
    assert [e.id for e in from_package] == [e.id for e in from_csv]  # ids derive from the review id


def test_a_collection_is_read_without_being_modified(tmp_path):
    for wal in (False, True):
        path = make_collection(tmp_path / f"collection-{wal}.anki2", wal=wal)
        before, mtime = hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns
        assert summary(events(AnkiCollectionImporter(AnkiImportOptions(subject="noor")), path)) == EXPECTED
        assert hashlib.sha256(path.read_bytes()).hexdigest() == before and path.stat().st_mtime_ns == mtime
        assert sorted(p.name for p in tmp_path.glob(f"collection-{wal}.anki2*")) == [path.name]


def test_unreadable_collections_get_clear_errors(tmp_path):
    newer = tmp_path / "collection.colpkg"
    with zipfile.ZipFile(newer, "w") as z:
        z.writestr("meta", b"\x08\x03")
        z.writestr("collection.anki21b", b"\x28\xb5\x2f\xfd" + b"\0" * 20)
        z.writestr("collection.anki2", make_collection(tmp_path / "placeholder.db", rows=[]).read_bytes())
    with pytest.raises(EventError, match="collection.anki21b") as e:
        events(AnkiCollectionImporter(), newer)
    assert "Support older Anki versions" in e.value.hint
    cases = {
        "notes.txt": (b"just text", "not an SQLite database"),
        "media.zip": (None, "a ZIP without a collection"),
        "other.anki2": ("no_revlog", "cannot read Anki's review log"),
        "cut.colpkg": ("truncated", "cut.colpkg"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        if content is None:
            with zipfile.ZipFile(path, "w") as z:
                z.writestr("media", b"{}")
        elif content == "no_revlog":
            sqlite3.connect(path).execute("CREATE TABLE cards (id integer)").connection.close()
        elif content == "truncated":
            path.write_bytes(
                make_package(tmp_path / "whole.colpkg", tmp_path, "collection.anki21").read_bytes()[:300]
            )
        else:
            path.write_bytes(content)
        with pytest.raises(EventError, match=message):
            events(AnkiCollectionImporter(), path)
    live = make_collection(tmp_path / "live.anki2")
    live.with_name("live.anki2-wal").write_bytes(b"x" * 32)
    with pytest.raises(EventError, match="Anki is open"):
        events(AnkiCollectionImporter(), live)
    with pytest.raises(EventError, match="--source anki_collection"):
        events(AnkiReviewImporter(), tmp_path / "whole.colpkg")


@needs(ANKI_CSV)
def test_the_real_revlog_imports_as_is():
    evs = events(AnkiReviewImporter(), ANKI_CSV)
    assert len(evs) == 68092 and len({e.data["item"] for e in evs}) == 5751
    assert Counter(e.data.get("kind") for e in evs) == {
        "review": 47886,
        "learn": 10088,
        "relearn": 9930,
        None: 188,
    }
    assert all(1 <= e.data["rating"] <= 4 and e.data["response_ms"] >= 0 for e in evs)


@needs(ANKI_CSV)
def test_satchel_ingest_of_the_real_revlog_and_a_package(tmp_path, monkeypatch):
    app = consenting_app(
        tmp_path, monkeypatch, model="language", purpose="vocabulary_scheduling", subject="niplav"
    )
    try:
        first = app.ingest(ANKI_CSV, source="anki_revlog_csv", subject="niplav")
        again = app.ingest(ANKI_CSV, source="anki_revlog_csv", subject="niplav")
        package = app.ingest(
            make_package(tmp_path / "deck.colpkg", tmp_path, "collection.anki21"),
            source="anki_collection",
            subject="niplav",
        )
    finally:
        app.close()
    assert (first.stored, first.duplicates) == (68092, 0) and (again.stored, again.duplicates) == (0, 68092)
    assert package.stored == len(EXPECTED)
