"""Unambiguous byte framing and key fingerprints shared by the privacy modules (private)."""

from __future__ import annotations

import hashlib
import struct

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


def frame(*parts: bytes | str | int) -> bytes:
    """Encode ``parts`` so that no two different part lists encode to the same bytes.

    ``bytes``/``str`` (UTF-8) are length-prefixed (u32); ``int`` is an unsigned 64-bit value with a
    distinct type tag.
    """
    out = []
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            out.append(b"i" + _U64.pack(part))
        else:
            raw = part.encode("utf-8") if isinstance(part, str) else bytes(part)
            out.append(b"b" + _U32.pack(len(raw)) + raw)
    return b"".join(out)


def key_id(secret: bytes) -> str:
    """A short, public fingerprint of a secret key (16 hex chars); reveals nothing about the key."""
    return hashlib.sha256(b"satchel/key-id/v1\x00" + secret).hexdigest()[:16]
