"""Sealed, atomically written files for one subject and pipeline — the only storage a checkpoint
store plugin gets. The store decides names, versions and formats; the core encrypts, binds and
writes, and keeps the monotonic version counter in the key vault (outside the data directory).

Given a :class:`~satchel.privacy.vault.CounterBatch`, :meth:`SealedFiles.commit` only stages the
version, and leaves the file's fsyncs to the batch: the caller commits it with the rest of the batch
(``App.train``: checkpoint version and audit anchor in one vault transaction), which first makes every
file of the batch durable, so the vault never names a version the disk may lose. A version written
but never committed is ignored and later overwritten."""

from __future__ import annotations

import re
from pathlib import Path

from satchel.errors import IntegrityError
from satchel.privacy.atomic import atomic_write, make_dirs
from satchel.privacy.envelope import Binding, open_sealed, seal
from satchel.privacy.vault import Counter, CounterBatch, Vault

_NAME = re.compile(r"^[a-z0-9_.-]{1,64}$")


class SealedFiles:
    """Files under ``root`` sealed for (app, subject pseudonym, pipeline)."""

    def __init__(
        self,
        root: Path,
        vault: Vault,
        app_id: str,
        subject: str,
        pipeline: str,
        *,
        batch: CounterBatch | None = None,
    ) -> None:
        self.root = root
        self._vault = vault
        self._batch = batch
        self._app_id = app_id
        self.subject = subject
        self.pipeline = pipeline
        self._counter = f"files:{subject}:{pipeline}"

    def _path(self, name: str) -> Path:
        if not _NAME.match(name):
            raise ValueError(f"sealed file name {name!r} must match {_NAME.pattern}")
        return self.root / name

    def _binding(self, kind: str, version: int) -> Binding:
        return Binding(self._app_id, self.subject, self.pipeline, kind, version)

    def write(self, name: str, kind: str, version: int, plaintext: bytes) -> bytes:
        """Seal and atomically write; returns the sealed bytes (e.g. to pin them in the counter)."""
        pending = None if self._batch is None else self._batch.files
        make_dirs(self.root, pending=pending)
        blob = seal(plaintext, self._vault.subject_key(self.subject), self._binding(kind, version))
        atomic_write(self._path(name), blob, pending=pending)
        return blob

    def read(self, name: str, kind: str, version: int) -> tuple[bytes, bytes]:
        """(plaintext, sealed bytes); IntegrityError when missing, tampered, swapped or truncated."""
        path = self._path(name)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            raise IntegrityError(
                f"{kind} v{version} of {self.pipeline} for {self.subject} is missing ({path.name})",
                hint="the data directory was rolled back or files were deleted; "
                "restore the whole data directory from its latest backup",
            ) from None
        key = self._vault.subject_key(self.subject, create=False)
        return open_sealed(blob, key, self._binding(kind, version)), blob

    def names(self) -> list[str]:
        return (
            sorted(p.name for p in self.root.glob("*") if _NAME.match(p.name)) if self.root.exists() else []
        )

    def exists(self, name: str) -> bool:
        return self._path(name).exists()

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def latest(self) -> Counter:
        """The committed (version, tag) from the vault's authenticated counters."""
        return self._vault.counter(self._counter)

    def commit(self, version: int, tag: bytes) -> None:
        """Record ``version`` as the latest; it can only move forward (rollback protection). With a
        batch, the version is staged there and becomes the latest when the batch commits."""
        if self._batch is None:
            self._vault.advance(self._counter, version, tag)
        else:
            self._batch.advance(self._counter, version, tag)
