"""The ``passphrase`` key provider: a random master key wrapped (AES-GCM) by an Argon2id passphrase key."""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import Field

from satchel.errors import KeyUnavailableError
from satchel.privacy._codec import frame
from satchel.privacy.atomic import atomic_write
from satchel.privacy.key_provider import ProviderDescription
from satchel_plugins.key_providers.key_material import (
    FILENAME_PATTERN,
    Prompt,
    ProviderOptions,
    encode_key,
    new_key,
)


@dataclass(frozen=True)
class Argon2Params:
    """Argon2id cost. The defaults exceed OWASP's minimum (19 MiB, t=2, p=1)."""

    memory_kib: int = 65536
    time_cost: int = 3
    parallelism: int = 1


_LIMITS = Argon2Params(memory_kib=4 * 1024 * 1024, time_cost=50, parallelism=16)


class PassphraseOptions(ProviderOptions):
    passphrase_env: str = Field("SATCHEL_PASSPHRASE", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    memory_kib: int = Field(65536, ge=19456, le=_LIMITS.memory_kib)
    time_cost: int = Field(3, ge=2, le=_LIMITS.time_cost)
    parallelism: int = Field(1, ge=1, le=_LIMITS.parallelism)
    filename: str = Field("master-key.argon2id.json", pattern=FILENAME_PATTERN)


class PassphraseKeyProvider:
    """A random master key, wrapped (AES-GCM) by a key derived from a passphrase with Argon2id.

    ``<key dir>/<filename>`` holds the Argon2id parameters, the salt and the wrapped key; the
    parameters and salt are the wrap's associated data, so a wrong passphrase and a tampered file
    both fail authentication. The passphrase comes from the environment variable
    ``options.passphrase_env`` when it is set (so a scheduler can unlock without a terminal), else
    from ``prompt``. ``kdf`` overrides the options' cost (tests).
    """

    def __init__(
        self,
        options: PassphraseOptions,
        *,
        app_id: str,
        key_dir: Path,
        prompt: Prompt | None = None,
        kdf: Argon2Params | None = None,
    ) -> None:
        self.options = options
        self._app_id = app_id
        self._path = Path(key_dir) / options.filename
        self._prompt = prompt
        self._kdf = kdf or Argon2Params(options.memory_kib, options.time_cost, options.parallelism)
        self._kek: tuple[bytes, dict[str, Any]] | None = None  # (key, file header) once unlocked

    def load_master_key(self) -> bytes:
        doc = self._read()
        if doc is None:
            key = new_key()
            self._save(*self._new_kek(self._passphrase(creating=True)), current=key)
            return key
        return self._unwrap(doc, "current")

    def stage_master_key(self) -> bytes:
        doc = self._existing()
        key = new_key()
        header = _header(doc)
        self._save(self._kek_for(header), header, current=self._unwrap(doc, "current"), staged=key)
        return key

    def staged_master_key(self) -> bytes | None:
        doc = self._existing()
        return self._unwrap(doc, "staged") if "staged" in doc else None

    def commit_master_key(self) -> None:
        doc = self._existing()
        if "staged" not in doc:
            raise KeyUnavailableError(f"no staged master key in {self._path}")
        self._save(self._kek_for(_header(doc)), _header(doc), current=self._unwrap(doc, "staged"))

    def change_passphrase(self, new_passphrase: str) -> None:
        """Re-wrap the master key (and a staged one) under a new passphrase; the master key stays."""
        doc = self._existing()
        keys: dict[str, bytes] = {
            slot: self._unwrap(doc, slot) for slot in ("current", "staged") if slot in doc
        }
        _check_new_passphrase(new_passphrase)
        kek, header = self._new_kek(new_passphrase)
        self._save(kek, header, **keys)

    def describe(self) -> ProviderDescription:
        k = self._kdf
        return ProviderDescription(
            "passphrase",
            f"passphrase (Argon2id m={k.memory_kib} KiB t={k.time_cost} p={k.parallelism}), "
            f"wrapped key in {self._path}",
            settings={
                "file": str(self._path),
                "memory_kib": str(k.memory_kib),
                "time_cost": str(k.time_cost),
                "parallelism": str(k.parallelism),
                "passphrase_env": self.options.passphrase_env,
            },
        )

    # internals

    def _passphrase(self, *, creating: bool = False) -> str:
        """The variable's value when set (schedulers, CI), else the prompt's answer."""
        value = os.environ.get(self.options.passphrase_env, "")
        if not value and self._prompt is not None:
            value = self._prompt(f"Passphrase for satchel app {self._app_id}: ")
        if not value:
            raise KeyUnavailableError(
                f"no passphrase for key file {self._path}: environment variable "
                f"{self.options.passphrase_env} is empty and no prompt was given",
                hint=f"set {self.options.passphrase_env} or pass a prompt callback",
            )
        if creating:
            _check_new_passphrase(value)
        return value

    def _new_kek(self, passphrase: str) -> tuple[bytes, dict[str, Any]]:
        header = {
            "format": 1,
            "kdf": "argon2id",
            "memory_kib": self._kdf.memory_kib,
            "time_cost": self._kdf.time_cost,
            "parallelism": self._kdf.parallelism,
            "salt": encode_key(secrets.token_bytes(16)),
        }
        return _argon2(passphrase, header), header

    def _kek_for(self, header: dict[str, Any]) -> bytes:
        """The Argon2id key for ``header`` (derived once per header, then cached)."""
        if self._kek is None or self._kek[1] != header:
            self._kek = (_argon2(self._passphrase(), header), header)
        return self._kek[0]

    def _read(self) -> dict[str, Any] | None:
        try:
            raw = self._path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            doc = json.loads(raw)
            header = _header(doc)
            ok = "current" in doc and all(
                isinstance(doc[s], dict) and {"nonce", "wrapped"} <= doc[s].keys()
                for s in ("current", "staged")
                if s in doc
            )
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            raise KeyUnavailableError(
                f"the key file {self._path} is corrupt", hint="restore the key directory from its backup"
            )
        if not (
            1 <= header["parallelism"] <= _LIMITS.parallelism
            and 1 <= header["time_cost"] <= _LIMITS.time_cost
            and 8 * header["parallelism"] <= header["memory_kib"] <= _LIMITS.memory_kib
        ):
            raise KeyUnavailableError(
                f"the key file {self._path} has out-of-range Argon2id parameters",
                hint="it was tampered with; restore the key directory from its backup",
            )
        return doc

    def _existing(self) -> dict[str, Any]:
        doc = self._read()
        if doc is None:
            raise KeyUnavailableError(f"no key file at {self._path}", hint="load the master key first")
        return doc

    def _unwrap(self, doc: dict[str, Any], slot: str) -> bytes:
        header = _header(doc)
        kek = self._kek_for(header)
        try:
            nonce = base64.b64decode(doc[slot]["nonce"], validate=True)
            wrapped = base64.b64decode(doc[slot]["wrapped"], validate=True)
            return AESGCM(kek).decrypt(nonce, wrapped, _aad(self._app_id, header, slot))
        except (InvalidTag, binascii.Error, ValueError, TypeError):
            self._kek = None
            raise KeyUnavailableError(
                f"wrong passphrase for {self._path}, or the file's parameters were modified",
                hint=f"check the passphrase ({self.options.passphrase_env} or the prompt); if it is right, "
                "restore the key directory from its backup",
            ) from None

    def _save(self, kek: bytes, header: dict[str, Any], **slots: bytes) -> None:
        doc: dict[str, Any] = dict(header)
        for slot, key in slots.items():
            nonce = secrets.token_bytes(12)
            wrapped = AESGCM(kek).encrypt(nonce, key, _aad(self._app_id, header, slot))
            doc[slot] = {"nonce": encode_key(nonce), "wrapped": encode_key(wrapped)}
        self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(self._path, json.dumps(doc, indent=1, sort_keys=True).encode())
        self._kek = (kek, header)


_HEADER_KEYS = ("format", "kdf", "memory_kib", "time_cost", "parallelism", "salt")


def _header(doc: dict[str, Any]) -> dict[str, Any]:
    header = {k: doc[k] for k in _HEADER_KEYS}
    if (
        header["format"] != 1
        or header["kdf"] != "argon2id"
        or not all(isinstance(header[k], int) and not isinstance(header[k], bool) for k in _HEADER_KEYS[2:5])
    ):
        raise ValueError("unsupported key file")
    return header


def _aad(app_id: str, header: dict[str, Any], slot: str) -> bytes:
    return frame(b"satchel/passphrase-key", app_id, slot, *(str(header[k]) for k in _HEADER_KEYS))


def _argon2(passphrase: str, header: dict[str, Any]) -> bytes:
    from argon2.low_level import Type, hash_secret_raw

    return hash_secret_raw(
        passphrase.encode("utf-8"),
        base64.b64decode(header["salt"]),
        time_cost=header["time_cost"],
        memory_cost=header["memory_kib"],
        parallelism=header["parallelism"],
        hash_len=32,
        type=Type.ID,
    )


def _check_new_passphrase(passphrase: str) -> None:
    if len(passphrase) < 8:
        raise KeyUnavailableError(
            "the new passphrase is shorter than 8 characters", hint="choose a longer passphrase"
        )
