"""Master-key material the key providers share: new keys, base64/hex (de)coding, the prompt type and the
options base."""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict

from satchel.errors import KeyUnavailableError

Prompt = Callable[[str], str]

GENERATE_HINT = (
    'generate one with: python -c "import secrets,base64;'
    'print(base64.b64encode(secrets.token_bytes(32)).decode())"'
)


def new_key() -> bytes:
    """A fresh random 32-byte master key."""
    return secrets.token_bytes(32)


def encode_key(key: bytes) -> str:
    """``key`` as standard base64 text."""
    return base64.b64encode(key).decode("ascii")


def decode_key(text: str, where: str) -> bytes:
    """A 32-byte key from base64 (standard or URL-safe) or 64 hex chars; the error never shows it."""
    text = text.strip()
    try:
        if re.fullmatch(r"[0-9a-fA-F]{64}", text):
            key = bytes.fromhex(text)
        else:
            key = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise KeyUnavailableError(f"{where} is not base64 or hex", hint=GENERATE_HINT) from None
    if len(key) != 32:
        raise KeyUnavailableError(f"{where} decodes to {len(key)} bytes, not 32", hint=GENERATE_HINT)
    return key


class ProviderOptions(BaseModel):
    """Base of every provider's options: unknown settings are errors, and options are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


#: A key file's name inside the key dir: no path separators, no leading dot.
FILENAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
