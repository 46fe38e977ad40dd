"""The event store's row format: keyed id and type tags, the learner's bytes and the sealed event."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable
from json.encoder import encode_basestring

from pydantic import TypeAdapter, ValidationError

from satchel.errors import IntegrityError
from satchel.events import Event, Scalar
from satchel.privacy.commitment import RECOVER, Commitments
from satchel.privacy.envelope import RECORD_OVERHEAD, RecordCipher
from satchel.privacy.pseudonym import require_pseudonym
from satchel.privacy.vault import Vault

FORMAT = 3
ID_TAG, TYPE_TAG, SUBJECT = 16, 8, 16  # bytes of an id tag, a type tag, a learner
EVENTS_TABLE = """
CREATE TABLE events (
    subject BLOB NOT NULL,
    id_tag BLOB NOT NULL,
    type_tag BLOB NOT NULL,
    blob BLOB NOT NULL,
    PRIMARY KEY (subject, id_tag)
) WITHOUT ROWID
"""
_DATA = TypeAdapter(dict[str, Scalar]).dump_json  # compact; the values were checked finite when recorded

#: a stored event: ``(id_tag, type_tag, blob)``
Row = tuple[bytes, bytes, bytes]


class EventRows:
    """One app's event rows in the database ``where``: the learners' tags, ciphers and row MACs."""

    def __init__(self, vault: Vault, app_id: str, store: str, heads: Commitments, where: str) -> None:
        self._vault = vault
        self._app_id = app_id
        self._store = store
        self._heads = heads
        self._where = where
        self.tag_key = vault.derive("event-tags")  # format-1/2 type tags were HMACs under it too

    def tags(self, subject: str) -> tuple[Callable[[str], bytes], Callable[[str], bytes]]:
        """The learner's id and type taggers (keyed BLAKE2b, 16 and 8 bytes)."""
        ids = hashlib.blake2b(
            subject.encode(), key=self.tag_key, digest_size=ID_TAG, person=b"satchel/event-id"
        )
        types = hashlib.blake2b(
            subject.encode(), key=self.tag_key, digest_size=TYPE_TAG, person=b"satchel/evtype"
        )

        def tag(base: hashlib.blake2b, value: str) -> bytes:
            mac = base.copy()
            mac.update(value.encode())
            return mac.digest()

        return (lambda i: tag(ids, i)), (lambda t: tag(types, t))

    def type_tags(self, subject: str, types: Collection[str]) -> set[bytes]:
        """The learner's tags of ``types``."""
        type_tag = self.tags(subject)[1]
        return {type_tag(t) for t in types}

    def cipher(self, subject: str, *, create: bool = True) -> RecordCipher:
        return RecordCipher(
            self._vault.subject_key(subject, create=create), self._app_id, self._store, FORMAT
        )

    def elements(self, subject: str) -> Callable[[bytes, bytes, bytes], int]:
        """The commitment MAC of a row (its tags have fixed lengths, so the payload is unambiguous)."""
        mac = self._heads.elements(subject)
        return lambda id_tag, type_tag, blob: mac(id_tag + type_tag + blob)

    def seal(self, subject: str, events: Iterable[Event]) -> dict[bytes, tuple[bytes, bytes]]:
        """``id_tag -> (type_tag, blob)`` for ``events`` (the first of repeated ids wins)."""
        cipher, (id_tag, type_tag) = self.cipher(subject), self.tags(subject)
        type_tags: dict[str, bytes] = {}
        rows: dict[bytes, tuple[bytes, bytes]] = {}
        for event in events:
            key = id_tag(event.id)
            if key not in rows:
                kind = type_tags.get(event.type) or type_tags.setdefault(event.type, type_tag(event.type))
                rows[key] = kind, cipher.seal(encode_event(event), key + kind)
        return rows

    def open(self, cipher: RecordCipher, subject: str, id_tag: bytes, type_tag: bytes, blob: bytes) -> Event:
        """The event of a row, or :class:`IntegrityError` if it does not authenticate or decode."""
        plain = cipher.open(blob, id_tag + type_tag)
        if plain is None:
            raise IntegrityError(
                f"an event of learner {subject} in {self._where} failed authentication: it was tampered with, "
                "truncated, or moved from another learner, event or type",
                hint=RECOVER,
            )
        return decode_event(plain, f"an event of learner {subject} in {self._where}")

    def check(self, subject: str, rows: Iterable[Row]) -> None:
        """Raise :class:`IntegrityError` unless every row has the shape of a sealed event."""
        for id_tag, type_tag, blob in rows:
            if not (
                isinstance(id_tag, bytes)
                and len(id_tag) == ID_TAG
                and isinstance(type_tag, bytes)
                and len(type_tag) == TYPE_TAG
                and isinstance(blob, bytes)
            ):
                raise IntegrityError(
                    f"an event row of learner {subject} in {self._where} is malformed", hint=RECOVER
                )
            if len(blob) < RECORD_OVERHEAD:
                raise IntegrityError(
                    f"an event of learner {subject} in {self._where} is truncated ({len(blob)} "
                    f"bytes, a sealed event has at least {RECORD_OVERHEAD})",
                    hint=RECOVER,
                )


def who(subject: str) -> bytes:
    """The pseudonym's 16 bytes, as rows store it (a raw learner id is refused with a PrivacyError)."""
    return bytes.fromhex(require_pseudonym(subject, "the event store's subject"))


def encode_event(event: Event) -> bytes:
    """``"id"\\0type\\0time\\0data``: the id as a JSON string, the UTC time (ISO 8601, ``Z``), the data as JSON."""
    time = event.time.isoformat()
    if time.endswith("+00:00"):
        time = time[:-6] + "Z"
    return b"%b\0%b\0%b\0%b" % (
        encode_basestring(event.id).encode(),
        event.type.encode(),
        time.encode(),
        _DATA(event.data),
    )


def decode_event(raw: bytes, what: str) -> Event:
    """An event from :func:`encode_event`'s bytes (or a format-1/2 event's JSON object)."""
    try:
        if raw[:1] == b"{":
            return Event.model_validate_json(raw)
        event_id, kind, time, data = raw.split(b"\0", 3)
        return Event.model_validate_json(
            b'{"id":%b,"type":"%b","time":"%b","data":%b}' % (event_id, kind, time, data)
        )
    except (ValueError, ValidationError):  # ValueError: fewer than four fields
        raise IntegrityError(f"{what} does not decode to an event", hint=RECOVER) from None
