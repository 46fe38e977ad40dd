"""Reading only a learner's new events: the :class:`Mark` of what was read, and the check of a delta.

A :class:`Mark` is what a full read verified: the head's version, count and digest and the sorted id
tags of the rows it covered. Given one, :meth:`EventStore.read_since
<satchel.storage.event_store.EventStore.read_since>` opens and MACs only the rows whose id tags are
not in it, and accepts them only if the head is fresh (as a full read requires), every known id tag is
still there, ``head.count == len(known) + len(new)`` and ``head.digest == mark.digest + Σ MAC(new)``
(mod 2**256). Then the committed set is exactly the known rows plus the new ones, so what was derived
from the known rows (authentic when the mark was taken) is still right. Anything else — a deletion,
purge, retention, erasure or tampering — makes it a full verified read (:attr:`Delta.full`, with
:attr:`Delta.reason`), which raises :class:`~satchel.errors.IntegrityError` as any read would.
"""

from __future__ import annotations

from dataclasses import dataclass

from satchel.events import Event
from satchel.privacy.commitment import Head
from satchel.storage.event_rows import ID_TAG

_WIDTH = 8 + 8 + 32  # version, count, digest


@dataclass(frozen=True)
class Mark:
    """What a verified read covered: the head's ``version``, ``count`` and ``digest`` and the sorted id
    tags of its rows (``ids``: ``count`` tags of 16 bytes, concatenated)."""

    version: int
    count: int
    digest: int
    ids: bytes

    @staticmethod
    def of(head: Head | None, tags: list[bytes]) -> Mark:
        """The mark of a verified snapshot: its head (None: nothing committed) and its rows' id tags."""
        head = head or Head(0, 0, 0)
        return Mark(head.version, head.count, head.digest, b"".join(sorted(tags)))

    def known(self) -> set[bytes]:
        return {self.ids[i : i + ID_TAG] for i in range(0, len(self.ids), ID_TAG)}

    def to_bytes(self) -> bytes:
        return (
            self.version.to_bytes(8, "big")
            + self.count.to_bytes(8, "big")
            + self.digest.to_bytes(32, "big")
            + self.ids
        )

    @staticmethod
    def from_bytes(raw: bytes) -> Mark:
        """The mark :meth:`to_bytes` wrote; ValueError when it is not one."""
        count = int.from_bytes(raw[8:16], "big")
        if len(raw) != _WIDTH + count * ID_TAG:
            raise ValueError(f"a mark of {count} rows has {len(raw)} bytes")
        return Mark(
            int.from_bytes(raw[:8], "big"), count, int.from_bytes(raw[16:_WIDTH], "big"), raw[_WIDTH:]
        )


@dataclass(frozen=True)
class Delta:
    """What :meth:`~satchel.storage.event_store.EventStore.read_since` read.

    ``events``: the rows not in the given mark (of the types asked), decrypted and sorted by time —
    or, when ``full``, every event of those types (no mark, or it no longer fits: ``reason`` says why).
    ``mark`` covers the learner's rows now; ``opened`` counts the rows decrypted.
    """

    events: tuple[Event, ...]
    mark: Mark
    full: bool
    reason: str = ""
    opened: int = 0


def new_tags(mark: Mark, present: list[bytes]) -> list[bytes] | None:
    """The id tags of ``present`` (all the learner's rows now) not in ``mark``; None unless every
    known tag is still present."""
    if len(present) == mark.count and b"".join(present) == mark.ids:  # sorted both: nothing new
        return []
    known = mark.known()
    new = [t for t in present if t not in known]
    return new if len(present) - len(new) == mark.count else None
