"""``encrypted_checkpoints``: versioned, sealed checkpoints with rollback protection
(registered by :mod:`satchel_plugins.checkpoints`).

Each save writes ``v00000042.ckpt`` (sealed for subject, pipeline, kind and version), then commits
the version and a hash of the sealed bytes to the key vault's authenticated counter (at once, or
with the caller's batch: see :mod:`satchel.storage.sealed_files`). Loading the latest version checks both, so
restoring an older valid file — or an older data directory — is refused. A crash before the commit
leaves the previous version in force (it is never deleted before a newer one is committed). Purging
commits an empty marker as a new version, so a purged pipeline cannot be brought back from a copy
either.
"""

from __future__ import annotations

import hashlib
import re

from pydantic import BaseModel, ConfigDict, Field

from satchel.errors import IntegrityError
from satchel.storage.checkpoint import Checkpoint
from satchel.storage.sealed_files import SealedFiles

KIND = "checkpoint"
_FILE = re.compile(r"^v(\d{8})\.ckpt$")


class StoreOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    keep_last: int = Field(3, ge=1, le=100, description="versions kept per subject and pipeline")


class EncryptedCheckpointStore:
    def __init__(self, options: StoreOptions) -> None:
        self.options = options

    def save(self, files: SealedFiles, checkpoint: Checkpoint) -> int:
        version = files.latest().value + 1
        blob = files.write(_name(version), KIND, version, checkpoint.to_bytes())
        files.commit(version, hashlib.sha256(blob).digest())
        in_force = files.latest().value  # still the previous version while the commit is staged
        for old in self.versions(files)[: -self.options.keep_last]:
            if old != in_force:
                files.delete(_name(old))
        return version

    def load(self, files: SealedFiles, version: int | None = None) -> Checkpoint | None:
        latest = files.latest()
        if latest.value == 0 or not latest.tag:  # never saved, or purged
            return None
        wanted = latest.value if version is None else version
        if not 1 <= wanted <= latest.value:
            raise IntegrityError(
                f"no checkpoint v{wanted} for {files.pipeline}; versions 1..{latest.value} exist",
                hint=f"kept versions: {self.versions(files)}",
            )
        raw, blob = files.read(_name(wanted), KIND, wanted)
        if wanted == latest.value and hashlib.sha256(blob).digest() != latest.tag:
            raise IntegrityError(
                f"checkpoint v{wanted} of {files.pipeline} is not the one last committed",
                hint="an older copy was restored over it; restore the latest backup",
            )
        return Checkpoint.from_bytes(raw, wanted)

    def versions(self, files: SealedFiles) -> list[int]:
        return sorted(int(m.group(1)) for n in files.names() if (m := _FILE.match(n)))

    def delete_all(self, files: SealedFiles) -> None:
        """Delete every version and commit an empty marker, so nothing older can be restored."""
        for v in self.versions(files):
            files.delete(_name(v))
        files.commit(files.latest().value + 1, b"")


def _name(version: int) -> str:
    return f"v{version:08d}.ckpt"


__all__ = ["KIND", "EncryptedCheckpointStore", "StoreOptions"]
