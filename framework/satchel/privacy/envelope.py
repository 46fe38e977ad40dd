"""Envelope encryption of stored objects (AES-256-GCM).

Every call to :func:`seal` draws a fresh random 256-bit data key, encrypts the plaintext with it,
and wraps the data key with the subject's key (itself wrapped by the app's master key in the
:class:`~satchel.privacy.vault.Vault`). Both AES-GCM operations authenticate the
:class:`Binding` — (format version, app id, subject pseudonym, pipeline, kind, version, subject key
id) — so a blob only opens in the exact place it was written: swapping files between learners,
pipelines, kinds or versions fails. Any flipped bit, truncation or wrong binding raises
:class:`~satchel.errors.IntegrityError`; :func:`open_sealed` never returns wrong data and never lets a
raw ``cryptography`` exception escape.

Blob layout (101 bytes of overhead, all big-endian)::

    magic "STCH" | format 0x01 | subject key id (8) | wrap nonce (12) | wrapped data key (32+16)
    | nonce (12) | ciphertext + tag (len(plaintext) + 16)

The payload's associated data is the whole header plus the encoded binding, so every header byte is
authenticated too.

:class:`RecordCipher` is for many small records of one subject (the event store): one AES-256-GCM key
per (subject key, context) derived with HKDF-SHA256 from the subject key, so a record costs 28 bytes
(nonce, tag) and one AES-GCM call instead of a wrapped data key each; erasing the subject key shreds
the derived key too. The caller binds each record to its place with short binary associated data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from satchel.errors import IntegrityError, PrivacyError
from satchel.privacy._codec import frame, key_id

MAGIC = b"STCH"
FORMAT_VERSION = 1
_KEY_ID_LEN = 8
_NONCE = 12
_TAG = 16
_WRAPPED = 32 + _TAG
_HEADER = len(MAGIC) + 1 + _KEY_ID_LEN + _NONCE + _WRAPPED + _NONCE
#: Bytes a sealed blob adds to its plaintext.
OVERHEAD = _HEADER + _TAG
#: Bytes a :class:`RecordCipher` record adds to its plaintext (nonce, tag).
RECORD_OVERHEAD = _NONCE + _TAG


@dataclass(frozen=True)
class Binding:
    """Where a sealed object belongs. Opening requires exactly the binding used to seal.

    ``subject`` is the pseudonym (never a raw learner id); ``pipeline`` may be empty for objects that
    belong to the subject rather than to one pipeline (e.g. consent records); ``version`` is the
    object's monotonic version (use 0 for unversioned objects).
    """

    app_id: str
    subject: str
    pipeline: str
    kind: str
    version: int = 0

    def __post_init__(self) -> None:
        for name in ("app_id", "subject", "kind"):
            if not getattr(self, name):
                raise ValueError(f"Binding.{name} is empty; every sealed object needs an {name}")
        if isinstance(self.version, bool) or not isinstance(self.version, int):
            raise ValueError(f"Binding.version must be an int, got {type(self.version).__name__}")
        if not 0 <= self.version < 2**63:
            raise ValueError(f"Binding.version {self.version} is out of range 0..2**63-1")

    def describe(self) -> str:
        """``app/subject/pipeline/kind@vN`` for error messages (pseudonyms only, no secrets)."""
        return f"{self.app_id}/{self.subject}/{self.pipeline or '-'}/{self.kind}@v{self.version}"

    def _encode(self, subject_key_id: str) -> bytes:
        return frame(
            b"satchel/binding",
            FORMAT_VERSION,
            self.app_id,
            self.subject,
            self.pipeline,
            self.kind,
            self.version,
            subject_key_id,
        )


@dataclass(frozen=True)
class SubjectKey:
    """One subject's 256-bit key, as handed out by the vault. ``secret`` never appears in ``repr``."""

    subject: str
    secret: bytes = field(repr=False)
    key_id: str = ""

    def __post_init__(self) -> None:
        if len(self.secret) != 32:
            raise ValueError(f"a subject key must be 32 bytes, got {len(self.secret)}")
        expected = key_id(self.secret)
        if self.key_id and self.key_id != expected:
            raise ValueError(f"subject key id {self.key_id!r} does not match its secret")
        object.__setattr__(self, "key_id", expected)

    @cached_property
    def _cipher(self) -> AESGCM:
        """The key's AES-GCM context, built once: reading a learner's events opens many blobs."""
        return AESGCM(self.secret)


class RecordCipher:
    """AES-256-GCM under a key derived from ``key`` for ``context`` (e.g. app id and store, with a format
    version): records of one subject, each ``nonce (12) | ciphertext + tag (16)``."""

    def __init__(self, key: SubjectKey, *context: str | int) -> None:
        info = frame(b"satchel/record-key", key.subject, key.key_id, *context)
        self._aead = AESGCM(
            HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key.secret)
        )

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        """Encrypt ``plaintext`` bound to ``aad`` under a fresh random nonce."""
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, blob: bytes, aad: bytes) -> bytes | None:
        """The plaintext of a record sealed with ``aad``; None if it does not authenticate (any change)."""
        try:
            return self._aead.decrypt(blob[:_NONCE], blob[_NONCE:], aad)
        except (InvalidTag, ValueError):  # ValueError: too short to hold a nonce and tag
            return None


def seal(plaintext: bytes, key: SubjectKey, aad: Binding) -> bytes:
    """Encrypt ``plaintext`` for ``aad`` under a fresh data key wrapped by ``key``."""
    _check_subject(key, aad, "seal")
    binding = aad._encode(key.key_id)
    dek = AESGCM.generate_key(bit_length=256)
    wrap_nonce = os.urandom(_NONCE)
    wrapped = key._cipher.encrypt(wrap_nonce, dek, b"satchel/dek\x00" + binding)
    nonce = os.urandom(_NONCE)
    header = MAGIC + bytes([FORMAT_VERSION]) + bytes.fromhex(key.key_id) + wrap_nonce + wrapped + nonce
    return header + AESGCM(dek).encrypt(nonce, plaintext, header + binding)


def open_sealed(blob: bytes, key: SubjectKey, aad: Binding) -> bytes:
    """Decrypt a blob made by :func:`seal`; raises :class:`IntegrityError` on any mismatch."""
    _check_subject(key, aad, "open")
    if len(blob) < OVERHEAD:
        raise IntegrityError(
            f"sealed object {aad.describe()} is truncated ({len(blob)} bytes, a sealed blob has at least {OVERHEAD})",
            hint="restore it from a backup or discard it",
        )
    if blob[:4] != MAGIC:
        raise IntegrityError(
            f"object {aad.describe()} is not a satchel sealed blob (bad magic {blob[:4]!r})",
            hint="the file was overwritten or is not satchel data; restore it from a backup or discard it",
        )
    if blob[4] != FORMAT_VERSION:
        raise IntegrityError(
            f"sealed object {aad.describe()} has format version {blob[4]}, this satchel reads {FORMAT_VERSION}",
            hint="upgrade satchel if the file is newer, otherwise it was tampered with",
        )
    pos = 5
    blob_key_id = blob[pos : pos + _KEY_ID_LEN].hex()
    if blob_key_id != key.key_id:
        raise IntegrityError(
            f"sealed object {aad.describe()} was sealed under subject key {blob_key_id}, not {key.key_id}",
            hint="it belongs to another learner (swapped file) or was tampered with; discard it",
        )
    pos += _KEY_ID_LEN
    wrap_nonce = blob[pos : pos + _NONCE]
    pos += _NONCE
    wrapped = blob[pos : pos + _WRAPPED]
    pos += _WRAPPED + _NONCE
    nonce = blob[pos - _NONCE : pos]
    binding = aad._encode(key.key_id)
    try:
        dek = key._cipher.decrypt(wrap_nonce, wrapped, b"satchel/dek\x00" + binding)
        return AESGCM(dek).decrypt(nonce, blob[pos:], blob[:pos] + binding)
    except InvalidTag:
        raise IntegrityError(
            f"sealed object {aad.describe()} failed authentication: it was tampered with, truncated, or "
            "belongs to another app, learner, pipeline, kind or version",
            hint="restore it from a backup or discard it; never trust its content",
        ) from None


def _check_subject(key: SubjectKey, aad: Binding, verb: str) -> None:
    if key.subject != aad.subject:
        raise PrivacyError(
            f"cannot {verb} {aad.describe()} with the key of subject {key.subject}",
            hint="fetch the key of the binding's subject from the vault",
        )
