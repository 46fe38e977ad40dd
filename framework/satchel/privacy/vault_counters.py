"""The key vault's monotonic counters: counter batches and the authenticated counter table.

Each row carries the write sequence number ``seq`` at which it last changed and a keyed BLAKE2b MAC
over (name, value, tag, seq); the same keyed hash also yields a secret *element* that is never stored.
One **sealed head** (AES-GCM under a vault-derived key, bound to the head's ``seq``) holds the row count
and the sum of all elements mod 2**256, and is updated in the same SQLite transaction as the rows it
covers (add the new element, subtract the old). An open vault verifies the whole table once, keeps that
verified view in memory, and afterwards only reads the rows other processes changed (``seq`` above the
head it last verified) and checks them against the new head; every counter read also compares its own
row with the view. So an edited, deleted, inserted or renamed row, or rows spliced in from an older copy
of the vault (a head restored alone included), raise :class:`IntegrityError` — at the latest when the
vault is next opened, at once when the affected counter is read. The elements are secret and the head
sealed, so no set of old rows can be combined to match a head.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from satchel.errors import IntegrityError
from satchel.privacy._codec import frame
from satchel.privacy.vault_keys import NONCE, hkdf

#: the modulus of the head's sum of row elements
MOD = 2**256


@dataclass(frozen=True)
class Counter:
    """A monotonic counter: its value and an optional tag (e.g. the audit log's last MAC)."""

    name: str
    value: int
    tag: bytes = b""


class CounterBatch:
    """Counter moves collected for one vault transaction (:meth:`Vault.commit`), e.g. a training's
    checkpoint version and its audit anchor, so they become durable together or not at all; and the
    files they refer to, fsync'd together just before that transaction (``files``)."""

    def __init__(self) -> None:
        self.moves: dict[str, tuple[Counter, bool]] = {}  # name -> (target, strict)
        self.files: list[Path] = []  # written, to be made durable before the moves commit

    def advance(self, name: str, value: int, tag: bytes = b"") -> None:
        """Move ``name`` to ``value``, which must exceed its committed value (as :meth:`Vault.advance`)."""
        self._put(Counter(name, value, bytes(tag)), strict=True)

    def publish(self, name: str, value: int, tag: bytes) -> None:
        """Move ``name`` forward to ``value`` unless it is already past it (as :meth:`Vault.publish`)."""
        self._put(Counter(name, value, bytes(tag)), strict=False)

    def _put(self, counter: Counter, strict: bool) -> None:
        if not valid_count(counter.value):
            raise ValueError(
                f"counter {counter.name!r} cannot be set to {counter.value!r}; counters are ints in "
                "0..2**63-1"
            )
        staged = self.moves.get(counter.name)
        if staged is not None and staged[0].value >= counter.value:
            raise ValueError(f"counter {counter.name!r} is already staged at {staged[0].value}")
        self.moves[counter.name] = (counter, strict or (staged is not None and staged[1]))


def valid_count(value: object) -> bool:
    """Whether ``value`` can be a counter's value or write sequence number (an int in 0..2**63-1)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


#: a verified counter row: the counter, the ``seq`` it was written at, its stored MAC, its secret element
Row = tuple[Counter, int, bytes, int]


@dataclass
class _View:
    """The counter table one connection has verified, as of its ``PRAGMA data_version``."""

    data_version: int
    seq: int  # the head's write sequence number
    total: int  # sum of the rows' elements mod 2**256
    rows: dict[str, Row]


class CounterSeal:
    """The keys of the counter table: row MACs and elements (one keyed BLAKE2b), the sealed head."""

    def __init__(self, root: bytes, app_id: str) -> None:
        self._app_id = app_id
        key = hkdf(root, frame(b"satchel/vault/counter-rows", app_id))
        self._base = hashlib.blake2b(frame(b"satchel/vault/counter-row", app_id), key=key, digest_size=48)
        self._cipher = AESGCM(hkdf(root, frame(b"satchel/vault/counter-head", app_id)))

    def row(self, counter: Counter, seq: int) -> Row:
        """The row of ``counter`` written at ``seq``: its stored MAC (16 bytes) and secret element."""
        mac = self._base.copy()
        mac.update(frame(counter.name, counter.value, counter.tag, seq))
        digest = mac.digest()
        return counter, seq, digest[32:], int.from_bytes(digest[:32], "big")

    def head(self, seq: int, count: int, total: int) -> bytes:
        nonce = os.urandom(NONCE)
        plain = count.to_bytes(8, "big") + total.to_bytes(32, "big")
        return seq.to_bytes(8, "big") + nonce + self._cipher.encrypt(nonce, plain, self._aad(seq))

    def open_head(self, blob: object) -> tuple[int, int, int] | None:
        """``(seq, count, total)`` of a sealed head, or None if it is not authentic."""
        if not isinstance(blob, bytes) or len(blob) != 8 + NONCE + 40 + 16:
            return None
        seq = int.from_bytes(blob[:8], "big")
        try:
            plain = self._cipher.decrypt(blob[8 : 8 + NONCE], blob[8 + NONCE :], self._aad(seq))
        except InvalidTag:
            return None
        return seq, int.from_bytes(plain[:8], "big"), int.from_bytes(plain[8:], "big")

    def _aad(self, seq: int) -> bytes:
        return frame(b"satchel/vault/counter-head", self._app_id, seq)


class CounterTable:
    """The counter rows of one vault connection: verified once, then kept current in O(changes).

    Every method but :meth:`committed` runs inside the vault's open transaction, which :meth:`begin`
    starts.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path, root: bytes, app_id: str) -> None:
        self._conn = conn
        self._path = path
        self._seal = CounterSeal(root, app_id)
        self._view: _View | None = None  # verified on first use, then kept current in O(changes)
        self._pending: tuple[int, int, list[Row]] | None = None  # (seq, total, rows) of the open transaction

    def begin(self) -> None:
        """A transaction started: it has written nothing yet."""
        self._pending = None

    def committed(self) -> None:
        """The transaction committed: what it wrote enters the verified view."""
        if self._pending is not None and self._view is not None:
            # our own commit leaves data_version unchanged, and no other connection wrote meanwhile
            self._view.seq, self._view.total, rows = self._pending
            self._view.rows.update((r[0].name, r) for r in rows)

    def get(self, name: str) -> Counter:
        """Counter ``name`` from the verified view, after checking its row in the database is that one."""
        row = self._sync().rows.get(name)
        sql = "SELECT value, tag, seq, mac FROM counters WHERE name = ?"
        stored = self._conn.execute(sql, (name,)).fetchone()
        if (stored is None) != (row is None) or (
            row is not None and stored != (row[0].value, row[0].tag, *row[1:3])
        ):
            raise self._tampered(
                f"the row of counter {name!r} was edited, deleted, inserted or restored from an older copy"
            )
        return row[0] if row is not None else Counter(name, 0)

    def apply(self, batch: CounterBatch) -> None:
        """Apply every move of ``batch`` (the rules of :meth:`Vault.commit`), or raise before writing any."""
        changed = []
        for target, strict in batch.moves.values():
            current = self.get(target.name)
            if strict and target.value <= current.value:
                raise IntegrityError(
                    f"counter {target.name!r} in {self._path} is at {current.value}; it cannot move to "
                    f"{target.value}",
                    hint="counters only move forward: the data was rolled back or written concurrently",
                )
            if target.value == current.value and not hmac.compare_digest(current.tag, target.tag):
                raise IntegrityError(
                    f"counter {target.name!r} in {self._path} is at {target.value} with another tag",
                    hint="two different states claim the same version: the data was tampered with",
                )
            if target.value > current.value:
                changed.append(target)
        if changed:
            self.write(changed)

    def write(self, counters: list[Counter]) -> None:
        """Write ``counters`` and the updated head (after :meth:`get` has brought the view up to date)."""
        view = self._view
        assert view is not None
        seq, count, total = view.seq + 1, len(view.rows), view.total
        rows = [self._seal.row(c, seq) for c in counters]
        for row in rows:
            old = view.rows.get(row[0].name)
            count, total = count + (old is None), (total + row[3] - (old[3] if old else 0)) % MOD
        self._conn.executemany(
            "INSERT OR REPLACE INTO counters VALUES (?, ?, ?, ?, ?)",
            [(c.name, c.value, c.tag, s, mac) for c, s, mac, _ in rows],
        )
        self._conn.execute(
            "INSERT OR REPLACE INTO meta VALUES ('counters_head', ?)", (self._seal.head(seq, count, total),)
        )
        self._pending = (seq, total, rows)  # enters the view only if the transaction commits

    def _sync(self) -> _View:
        """The verified view, brought up to date with other connections' commits.

        The first call reads and checks every row; later ones only the rows written since the head
        this connection verified last (``seq`` above it), so their cost does not grow with the table.
        """
        (version,) = self._conn.execute("PRAGMA data_version").fetchone()
        view = self._view
        if view is not None and view.data_version == version:
            return view
        stored = self._conn.execute("SELECT value FROM meta WHERE name = 'counters_head'").fetchone()
        head = self._seal.open_head(stored[0] if stored else None)
        if head is None:
            raise self._tampered("its sealed head is missing or not authentic")
        seq, count, total = head
        if view is None:
            rows = [
                self._checked(r, seq)
                for r in self._conn.execute("SELECT name, value, tag, seq, mac FROM counters")
            ]
            view = _View(version, seq, 0, {r[0].name: r for r in rows})
            found, digest = len(rows), sum(r[3] for r in rows) % MOD
        else:
            if seq < view.seq:
                raise self._tampered(
                    f"its head (write {seq}) is older than the one this process verified (write "
                    f"{view.seq}): it was restored from an older copy"
                )
            sql = "SELECT name, value, tag, seq, mac FROM counters WHERE seq > ?"
            rows = [self._checked(r, seq) for r in self._conn.execute(sql, (view.seq,))]
            found, digest = len(view.rows), view.total
            for row in rows:
                old = view.rows.get(row[0].name)
                found, digest = found + (old is None), (digest + row[3] - (old[3] if old else 0)) % MOD
        if found != count or digest != total:
            raise self._tampered(
                f"{found} rows are not the {count} its head commits to: rows were deleted, inserted "
                "or restored from an older copy"
            )
        view.rows.update((r[0].name, r) for r in rows)
        view.data_version, view.seq, view.total = version, seq, total
        self._view = view
        return view

    def _checked(self, stored: tuple, head_seq: int) -> Row:
        """A database row, authenticated by its MAC, as a :data:`Row`."""
        name, value, tag, seq, mac = stored
        if not (
            isinstance(name, str)
            and valid_count(value)
            and isinstance(tag, bytes)
            and valid_count(seq)
            and seq <= head_seq
            and isinstance(mac, bytes)
        ):
            raise self._tampered(f"the row of counter {name!r} is malformed")
        row = self._seal.row(Counter(name, value, tag), seq)
        if not hmac.compare_digest(row[2], mac):
            raise self._tampered(f"the row of counter {name!r} was edited")
        return row

    def _tampered(self, detail: str) -> IntegrityError:
        return IntegrityError(
            f"the counter table of the key vault at {self._path} failed authentication: {detail}",
            hint="restore the whole key directory from a trusted backup (with the data directory of the same "
            "backup)",
        )
