"""Anki collections (``anki_collection``): ``collection.anki2``/``.anki21``, ``.colpkg`` and ``.apkg``.

Reads the ``revlog`` table (``id`` review time in ms, ``cid``, ``ease`` 1-4, ``time`` answer ms,
``type``) from a copy in memory, so the file is never modified nor locked. Packages are ZIPs holding
``collection.anki21b`` (Anki 2.1.50+, zstd-compressed, beside a placeholder ``collection.anki2``),
else ``collection.anki21``, else ``collection.anki2``; the zstd one needs a decompressor satchel
does not ship, so it gets an error saying how to export the legacy format instead.
"""

from __future__ import annotations

import sqlite3
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import cast

from satchel.errors import EventError
from satchel.events import MAX_INT
from satchel.model.task import SourcedEvent
from satchel_plugins.language.anki import AnkiImportOptions
from satchel_plugins.language.review_log import ANKI_TYPES, NOT_REVIEWS, from_ms, review_event

_COLLECTIONS = ("collection.anki21b", "collection.anki21", "collection.anki2")
_LEGACY = (
    "in Anki: File → Export…, choose 'Anki Collection Package (.colpkg)' and tick "
    "'Support older Anki versions' (or a deck's .apkg with that box ticked), then import that file"
)
_COLUMNS = ("id", "cid", "ease", "time", "type")
_FIX = "import the collection.anki2 of your Anki profile folder (with Anki closed), or a .colpkg/.apkg export"


class AnkiCollectionImporter:
    """Reads an Anki collection or package into ``word_reviewed`` events (one per answer)."""

    def __init__(self, options: AnkiImportOptions | None = None) -> None:
        self.options = options or AnkiImportOptions()

    def read(self, path: Path) -> Iterator[SourcedEvent]:
        path = Path(path)
        for row_number, row in enumerate(_revlog(path), start=1):
            where = f"{path}:revlog row {row_number} (id {row[0]!r})"
            for column, value in zip(_COLUMNS, row):
                if not isinstance(value, int) or (column != "cid" and abs(value) > MAX_INT):
                    raise EventError(
                        f"{where}: field {column!r}: {value!r} is not an integer Anki writes", hint=_FIX
                    )
            review_id, card, ease, answer_ms, kind = cast(
                "tuple[int, int, int, int, int]", row
            )  # checked above
            if ease == 0 or kind in NOT_REVIEWS:
                continue
            if kind not in ANKI_TYPES:
                raise EventError(f"{where}: field 'type': {kind} is not an Anki review type (0-5)", hint=_FIX)
            event = review_event(
                self.options.subject,
                str(card),
                ease,
                from_ms(review_id, where, "id", _FIX),
                max(answer_ms, 0),
                ANKI_TYPES[kind],
                where,
                _FIX,
            )
            yield SourcedEvent(self.options.subject, event, row_number)


def _revlog(path: Path) -> list[tuple[object, ...]]:
    """The revlog rows (id, cid, ease, time, type), oldest first, as SQLite holds them (any type)."""
    data, name = _database_bytes(path)
    if not data.startswith(b"SQLite format 3\x00"):
        raise EventError(f"{name}: not an SQLite database, so not an Anki collection", hint=_FIX)
    if data[18:20] == b"\x02\x02":  # write-ahead-log mode: mark it rollback-journal to open it in memory
        data = data[:18] + b"\x01\x01" + data[20:]
    db = sqlite3.connect(":memory:")
    try:
        db.deserialize(data)
        return db.execute(f"SELECT {', '.join(_COLUMNS)} FROM revlog ORDER BY id").fetchall()
    except sqlite3.Error as e:
        raise EventError(f"{name}: cannot read Anki's review log ({e})", hint=_FIX) from None
    finally:
        db.close()


def _database_bytes(path: Path) -> tuple[bytes, str]:
    """The collection's bytes: the file itself, or the right member of a package."""
    if not path.is_file():
        raise EventError(f"no such file: {path}", hint=_FIX)
    wal = path.with_name(path.name + "-wal")
    if wal.is_file() and wal.stat().st_size > 0:
        raise EventError(
            f"{path}: Anki is open (or closed uncleanly): recent reviews are still in {wal.name}",
            hint="close Anki (or open and close it once), then import again",
        )
    try:
        if not zipfile.is_zipfile(path):
            return path.read_bytes(), str(path)
        with zipfile.ZipFile(path) as z:
            members = set(z.namelist())
            name = next((n for n in _COLLECTIONS if n in members), None)
            if name is None:
                raise EventError(f"{path}: a ZIP without a collection ({', '.join(_COLLECTIONS)})", hint=_FIX)
            if name == "collection.anki21b":
                raise EventError(
                    f"{path}: holds collection.anki21b, Anki 2.1.50+'s zstd-compressed format, "
                    "which satchel cannot decompress",
                    hint=_LEGACY,
                )
            return z.read(name), f"{path}:{name}"
    except (
        OSError,
        EOFError,
        zipfile.BadZipFile,
        zlib.error,
        RuntimeError,
        NotImplementedError,
        ValueError,
    ) as e:
        raise EventError(f"{path}: cannot be read ({e})", hint=_FIX) from None
