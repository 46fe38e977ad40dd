"""Keyed pseudonyms: raw learner ids never reach disk.

A pseudonym is ``HMAC-SHA256(k, NFC(subject_id))`` truncated to 128 bits (32 lowercase hex chars),
where ``k`` is derived from the vault's root secret (``vault.derive("pseudonym")``). It is stable for
the life of the vault (master-key rotation does not change it), differs between apps, and cannot be
reversed or recomputed without the app's keys — unlike a plain hash, which anyone could compute from
a guessed id. 128 bits keep collisions out of reach for any population (birthday bound ~2**64).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from typing import Protocol

from satchel.errors import PrivacyError

PSEUDONYM_HEX_CHARS = 32
_PSEUDONYM = re.compile(rf"[0-9a-f]{{{PSEUDONYM_HEX_CHARS}}}")


def is_pseudonym(value: object) -> bool:
    """True when ``value`` has the shape of a pseudonym (32 lowercase hex characters)."""
    return isinstance(value, str) and _PSEUDONYM.fullmatch(value) is not None


def require_pseudonym(value: object, where: str) -> str:
    """Return ``value`` if it is a pseudonym; otherwise raise :class:`PrivacyError` saying where."""
    if not is_pseudonym(value):
        shape = f"a str of length {len(value)}" if isinstance(value, str) else type(value).__name__
        raise PrivacyError(
            f"{where} must be a pseudonym (32 lowercase hex chars), got {shape}",
            hint="pass Pseudonymizer.from_vault(vault)(subject_id), never a raw learner id",
        )
    return value  # type: ignore[return-value]


class KeyDeriver(Protocol):
    """What :meth:`Pseudonymizer.from_vault` needs of a :class:`~satchel.privacy.vault.Vault`."""

    def derive(self, purpose: str, length: int = 32) -> bytes: ...


class Pseudonymizer:
    """Maps subject ids to pseudonyms with a secret key: ``Pseudonymizer.from_vault(v)("alice")``."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError(f"a pseudonym key needs at least 32 bytes, got {len(key)}")
        self._key = bytes(key)

    @classmethod
    def from_vault(cls, vault: KeyDeriver) -> Pseudonymizer:
        """The app's pseudonymizer, keyed by ``vault.derive("pseudonym")``."""
        return cls(vault.derive("pseudonym"))

    def __call__(self, subject_id: str) -> str:
        if not isinstance(subject_id, str) or not subject_id:
            raise ValueError("a subject id must be a non-empty string")
        data = unicodedata.normalize("NFC", subject_id).encode("utf-8")
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()[:PSEUDONYM_HEX_CHARS]

    def __repr__(self) -> str:
        return "Pseudonymizer(<key hidden>)"
