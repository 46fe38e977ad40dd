"""The ``insecure_file`` key provider: the master key as a plaintext file, for demos only."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field

from satchel.errors import KeyUnavailableError
from satchel.privacy.atomic import atomic_write, fsync_dir
from satchel.privacy.key_provider import ProviderDescription
from satchel_plugins.key_providers.key_material import (
    FILENAME_PATTERN,
    Prompt,
    ProviderOptions,
    decode_key,
    encode_key,
    new_key,
)


class InsecureFileOptions(ProviderOptions):
    filename: str = Field("master-key.INSECURE", pattern=FILENAME_PATTERN)


class InsecureFileKeyProvider:
    """INSECURE: the master key as plaintext base64 in ``<key dir>/<filename>``. Demos only."""

    def __init__(
        self, options: InsecureFileOptions, *, app_id: str, key_dir: Path, prompt: Prompt | None = None
    ) -> None:
        self._path = Path(key_dir) / options.filename
        self._staged = self._path.with_name(self._path.name + ".staged")

    def load_master_key(self) -> bytes:
        return self._read(self._path) or self._write(self._path, new_key())

    def stage_master_key(self) -> bytes:
        return self._write(self._staged, new_key())

    def staged_master_key(self) -> bytes | None:
        return self._read(self._staged)

    def commit_master_key(self) -> None:
        if not self._staged.exists():
            raise KeyUnavailableError(f"no staged master key at {self._staged}")
        os.replace(self._staged, self._path)
        fsync_dir(self._path.parent)

    def describe(self) -> ProviderDescription:
        return ProviderDescription(
            "insecure_file",
            f"INSECURE plaintext key file {self._path} (demos only)",
            insecure=True,
            settings={"file": str(self._path)},
        )

    @staticmethod
    def _read(path: Path) -> bytes | None:
        try:
            return decode_key(path.read_text(), f"key file {path}")
        except FileNotFoundError:
            return None

    @staticmethod
    def _write(path: Path, key: bytes) -> bytes:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(path, (encode_key(key) + "\n").encode())
        return key
