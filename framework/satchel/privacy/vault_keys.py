"""The key vault's key operations: AES-GCM wrapping under the master key, HKDF from the root secret."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from satchel.privacy._codec import frame

NONCE = 12


def hkdf(root: bytes, info: bytes, length: int = 32) -> bytes:
    """A key of ``length`` bytes derived from ``root`` for ``info`` (HKDF-SHA256, no salt)."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(root)


def root_aad(app_id: str) -> bytes:
    """The associated data of the wrapped root secret."""
    return frame(b"satchel/vault/root", app_id)


def subject_aad(app_id: str, pseudonym: str) -> bytes:
    """The associated data of a wrapped subject key."""
    return frame(b"satchel/vault/subject", app_id, pseudonym)


def wrap(key: bytes, secret: bytes, aad: bytes) -> bytes:
    """``secret`` encrypted under ``key`` (AES-GCM, random nonce first), bound to ``aad``."""
    nonce = os.urandom(NONCE)
    return nonce + AESGCM(key).encrypt(nonce, secret, aad)


def unwrap(key: bytes, wrapped: object, aad: bytes) -> bytes:
    """The secret :func:`wrap` sealed; raises :class:`InvalidTag` if ``wrapped`` is not authentic."""
    if not isinstance(wrapped, bytes) or len(wrapped) < NONCE + 16:
        raise InvalidTag()  # a tampered row (wrong type or too short) fails like a bad tag
    return AESGCM(key).decrypt(wrapped[:NONCE], wrapped[NONCE:], aad)
