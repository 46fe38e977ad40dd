"""The audit log: append-only, hash-chained, keyed, anchored JSON lines.

Each line of ``<data dir>/audit.jsonl`` is one canonical JSON object::

    {"action":"consent.granted","fields":{"subject":"3f9a…","purpose":"reminders"},
     "mac":"…","prev":"…","seq":7,"time":"2026-03-01T09:12:44.120931+00:00"}

``mac = HMAC-SHA256(k, canonical entry without "mac")`` where ``k = vault.derive("audit-log")``,
and ``prev`` is the previous entry's ``mac`` (64 zeros for the first entry). Without the app's key
nobody can edit, insert, reorder or forge an entry; the last ``(seq, mac)`` is anchored in the vault's
authenticated counters, so cutting the tail (or swapping in an older log) is detected too.

Entries record events, never content: ``fields`` holds at most 32 scalars, strings up to 256 chars,
and fields named ``subject`` or ``*_subject`` must hold pseudonyms. Appends write under an exclusive
``flock`` on the file, then fsync it and advance the anchor; a crash between the two leaves the log
one entry ahead of the anchor, which verifies fine. :meth:`AuditLog.stage` appends the same way but
puts the fsync and the anchor's move into a :class:`~satchel.privacy.vault.CounterBatch`, so they
happen with the vault transaction of the operation the entry records (a training's checkpoint
version): an entry past the anchor then records an operation whose commit a crash interrupted. A torn final line
left by a crash is dropped by the next append, which records ``audit.torn_tail_dropped``.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from satchel.errors import IntegrityError, PrivacyError
from satchel.privacy.atomic import fsync_dir
from satchel.privacy.pseudonym import require_pseudonym
from satchel.privacy.vault import Counter, CounterBatch, Vault

FieldValue = str | int | float | bool | None
ProblemKind = Literal[
    "malformed",
    "torn",
    "edited",
    "bad_mac",
    "inserted",
    "deleted",
    "reordered",
    "duplicated",
    "chain_broken",
    "truncated",
    "rewritten",
]

GENESIS = "0" * 64
MAX_FIELDS = 32
MAX_STRING = 256
_ACTION = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
_FIELD = re.compile(r"[a-z][a-z0-9_]*")
_KEYS = frozenset({"seq", "time", "action", "fields", "prev", "mac"})
_MAC = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class AuditEntry:
    """One line of the log (as stored; authenticate with :meth:`AuditLog.verify`)."""

    seq: int
    time: datetime
    action: str
    fields: Mapping[str, FieldValue]
    prev: str
    mac: str


@dataclass(frozen=True)
class AuditProblem:
    """The first thing wrong with a log: what, and on which line (1-based)."""

    kind: ProblemKind
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.kind}: {self.message}"


@dataclass(frozen=True)
class AuditVerification:
    """Result of :meth:`AuditLog.verify`. ``entries`` counts lines verified before any problem."""

    ok: bool
    entries: int
    problem: AuditProblem | None = None


class AuditLog:
    """The app's audit log at ``path``, keyed and anchored by ``vault`` (counter ``anchor``)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        vault: Vault,
        *,
        anchor: str = "audit-log",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._path = Path(path)
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._vault = vault
        self._anchor = anchor
        self._key = vault.derive("audit-log")

    @property
    def path(self) -> Path:
        return self._path

    def append(self, action: str, **fields: FieldValue) -> AuditEntry:
        """Append one entry and return it. Raises :class:`IntegrityError` if the tail was tampered with."""
        batch = CounterBatch()
        entry = self.stage(batch, action, **fields)
        self._vault.commit(batch)
        return entry

    def stage(self, batch: CounterBatch, action: str, **fields: FieldValue) -> AuditEntry:
        """Append one entry whose fsync and anchor move happen when the vault commits ``batch``."""
        _check_action(action)
        clean = _check_fields(fields)
        fd = os.open(self._path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_size == 0:
                fsync_dir(self._path.parent)
            seq, prev, dropped = self._authenticated_tail(fd)
            if dropped:
                note = self._write(fd, seq + 1, prev, "audit.torn_tail_dropped", {"bytes": dropped})
                seq, prev = note["seq"], note["mac"]
            obj = self._write(fd, seq + 1, prev, action, clean)
            batch.files.append(self._path)
            batch.publish(self._anchor, obj["seq"], bytes.fromhex(obj["mac"]))  # anchors the note too
            return _entry(obj)
        finally:
            os.close(fd)

    def entries(self) -> tuple[AuditEntry, ...]:
        """All complete entries in file order, parsed but not authenticated (use :meth:`verify`)."""
        data, _ = self._read_all()
        complete = _lines(data)[: None if data.endswith(b"\n") or not data else -1]
        out = []
        for number, raw in enumerate(complete, 1):
            obj = _parse(raw)
            if obj is None:
                raise IntegrityError(
                    f"line {number} of the audit log {self._path} is not a valid entry",
                    hint="run `satchel audit verify` to see what happened to the log",
                )
            out.append(_entry(obj))
        return tuple(out)

    def verify(self) -> AuditVerification:
        """Check MACs, the chain and the vault anchor; report the first problem with its line."""
        data, anchor = self._read_all()
        return _verify(data, anchor, self._key)

    # ------------------------------------------------------------------ internals

    def _read_all(self) -> tuple[bytes, Counter]:
        """The whole file and the anchor, read together under a shared lock."""
        try:
            fd = os.open(self._path, os.O_RDONLY)
        except FileNotFoundError:
            return b"", self._vault.counter(self._anchor)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            with os.fdopen(os.dup(fd), "rb") as f:
                data = f.read()
            return data, self._vault.counter(self._anchor)
        finally:
            os.close(fd)

    def _authenticated_tail(self, fd: int) -> tuple[int, str, int]:
        """(seq, mac) of the last entry, checked against its MAC and the anchor, and torn bytes dropped."""
        size = os.fstat(fd).st_size
        last, start = _last_line(fd, size)
        dropped = 0
        if last is not None and start + len(last) == size:  # no trailing newline: a torn write
            dropped = len(last)
            os.ftruncate(fd, start)
            os.fsync(fd)
            last, start = _last_line(fd, start)
        anchor = self._vault.counter(self._anchor)
        seq, mac = 0, GENESIS
        if last is not None:
            obj = _parse(last)
            if obj is None or not hmac.compare_digest(obj["mac"], _mac(self._key, obj)):
                raise IntegrityError(
                    f"the last entry of the audit log {self._path} failed authentication",
                    hint="run `satchel audit verify`; the log was tampered with",
                )
            seq, mac = obj["seq"], obj["mac"]
        if seq < anchor.value or (seq == anchor.value and seq and anchor.tag.hex() != mac):
            raise IntegrityError(
                f"the audit log {self._path} ends at entry {seq}, "
                f"but the key vault anchors entry {anchor.value}",
                hint="run `satchel audit verify`; the log was truncated, replaced or restored from a backup",
            )
        return seq, mac, dropped

    def _write(self, fd: int, seq: int, prev: str, action: str, fields: Mapping[str, FieldValue]) -> dict:
        obj: dict = {
            "seq": seq,
            "time": self._clock().isoformat(timespec="microseconds"),
            "action": action,
            "fields": dict(fields),
            "prev": prev,
        }
        obj["mac"] = _mac(self._key, obj)
        view = memoryview(_canonical(obj) + b"\n")
        while view:
            view = view[os.write(fd, view) :]
        return obj


def _canonical(obj: Mapping[str, object]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def _mac(key: bytes, obj: Mapping[str, object]) -> str:
    body = {k: v for k, v in obj.items() if k != "mac"}
    return hmac.new(key, b"satchel/audit/v1\n" + _canonical(body), hashlib.sha256).hexdigest()


def _parse(raw: bytes) -> dict | None:
    """A structurally valid entry, or None."""
    try:
        obj = json.loads(raw, parse_constant=_reject)
    except (ValueError, RecursionError):
        return None
    if not (isinstance(obj, dict) and obj.keys() == _KEYS):
        return None
    ok = (
        isinstance(obj["seq"], int)
        and not isinstance(obj["seq"], bool)
        and obj["seq"] > 0
        and isinstance(obj["time"], str)
        and isinstance(obj["action"], str)
        and isinstance(obj["fields"], dict)
        and all(isinstance(p, str) and _MAC.fullmatch(p) for p in (obj["prev"], obj["mac"]))
    )
    return obj if ok else None


def _reject(constant: str) -> None:
    raise ValueError(f"{constant} is not allowed in an audit entry")


def _entry(obj: Mapping) -> AuditEntry:
    try:
        time = datetime.fromisoformat(obj["time"])
    except ValueError:
        raise IntegrityError(f"audit entry {obj['seq']} has an invalid time {obj['time']!r}") from None
    fields = MappingProxyType(dict(obj["fields"]))
    return AuditEntry(obj["seq"], time, obj["action"], fields, obj["prev"], obj["mac"])


def _lines(data: bytes) -> list[bytes]:
    """Lines of ``data``; a torn last line (no trailing newline) is kept as the last element."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


def _last_line(fd: int, end: int) -> tuple[bytes | None, int]:
    """The last line in ``[0, end)`` (without its newline) and its start offset; None if empty."""
    if end == 0:
        return None, 0
    stop = end - 1 if os.pread(fd, 1, end - 1) == b"\n" else end
    chunk, pos = b"", stop
    while pos > 0:
        size = min(8192, pos)
        pos -= size
        chunk = os.pread(fd, size, pos) + chunk
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            return chunk[cut + 1 :], pos + cut + 1
    return chunk, 0


def _check_action(action: str) -> None:
    if not (isinstance(action, str) and len(action) <= 64 and _ACTION.fullmatch(action)):
        raise ValueError(f"audit action {action!r} must be dotted lowercase words, e.g. 'consent.granted'")


def _check_fields(fields: Mapping[str, FieldValue]) -> dict[str, FieldValue]:
    if len(fields) > MAX_FIELDS:
        raise PrivacyError(
            f"an audit entry takes at most {MAX_FIELDS} fields, got {len(fields)}",
            hint="audit entries record events, never content",
        )
    for name, value in fields.items():
        if not (len(name) <= 64 and _FIELD.fullmatch(name)):
            raise ValueError(f"audit field name {name!r} must be a lowercase identifier")
        if name == "subject" or name.endswith("_subject"):
            require_pseudonym(value, f"audit field {name!r}")
        if isinstance(value, str) and len(value) > MAX_STRING:
            raise PrivacyError(
                f"audit field {name!r} is {len(value)} chars; the limit is {MAX_STRING}",
                hint="audit entries record events, never content: log an id, count or hash instead",
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"audit field {name!r} must be finite, got {value}")
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise PrivacyError(
                f"audit field {name!r} has type {type(value).__name__}; only str, int, float, bool, None",
                hint="audit entries record events, never content",
            )
    return dict(fields)


def _verify(data: bytes, anchor: Counter, key: bytes) -> AuditVerification:
    objs = [_parse(raw) for raw in _lines(data)]
    torn = bool(data) and not data.endswith(b"\n")
    good = [o is not None and hmac.compare_digest(o["mac"], _mac(key, o)) for o in objs]
    later = {o["seq"]: i for i, (o, g) in enumerate(zip(objs, good)) if g and o is not None}
    anchor_mac = anchor.tag.hex()
    exp_seq, exp_prev = 1, GENESIS

    def fail(kind: ProblemKind, index: int, message: str) -> AuditVerification:
        return AuditVerification(False, index, AuditProblem(kind, index + 1, message))

    for i, obj in enumerate(objs):
        nxt = objs[i + 1] if i + 1 < len(objs) else None
        resumes = nxt is not None and good[i + 1] and nxt["seq"] == exp_seq and nxt["prev"] == exp_prev
        if not good[i]:
            if resumes:
                return fail("inserted", i, f"an entry outside the chain was inserted before entry {exp_seq}")
            if torn and nxt is None:
                return fail("torn", i, "incomplete last line (a crash mid-append?); the next append drops it")
            if obj is None:
                return fail("malformed", i, "not a valid audit entry")
            if (nxt is not None and good[i + 1] and nxt["prev"] == obj["mac"]) or (
                nxt is None and obj["mac"] == anchor_mac
            ):  # the genuine MAC is still in place (the next entry or the anchor vouches for it)
                return fail("edited", i, f"entry {obj['seq']} was changed after it was written")
            return fail("bad_mac", i, f"entry {obj['seq']}'s MAC does not verify (forged or altered)")
        assert obj is not None  # good[i]: it parsed and its MAC verified
        seq = obj["seq"]
        if seq < exp_seq:  # entries 1..exp_seq-1 were all seen in order
            return fail("duplicated", i, f"entry {seq} appears twice")
        if seq != exp_seq:
            if seq > exp_seq and exp_seq not in later:
                missing = f"{exp_seq}" if seq == exp_seq + 1 else f"{exp_seq}..{seq - 1}"
                return fail("deleted", i, f"entry {missing} is missing before entry {seq}")
            return fail("reordered", i, f"entry {seq} is where entry {exp_seq} belongs")
        if obj["prev"] != exp_prev:
            return fail("chain_broken", i, f"entry {seq} does not chain to the entry before it")
        exp_seq, exp_prev = seq + 1, obj["mac"]
    last = exp_seq - 1
    if anchor.value > last:
        message = f"the log ends at entry {last}; the vault anchors entry {anchor.value}"
        return fail("truncated", len(objs), message)
    anchored = objs[later[anchor.value]] if anchor.value else None
    if anchored is not None and anchored["mac"] != anchor_mac:
        message = f"entry {anchor.value} differs from the one the vault anchors"
        return fail("rewritten", later[anchor.value], message)
    return AuditVerification(True, len(objs))
