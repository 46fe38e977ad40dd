"""A learner's sealed sample cache: a folding featurizer's state and the mark of the events in it.

Per (learner, pipeline), ``samples.cache`` beside the pipeline's checkpoints, sealed with the
learner's key (AES-GCM) and bound to app, learner, pipeline and kind; its plaintext is the cache
key, the :class:`~satchel.storage.event_delta.Mark` of the events folded and the featurizer's state.
The cache key hashes the featurizer's schema, name, options and ``cache_version``: a change of any
of them rebuilds the state from a full read. A training then reads only the events the mark does
not cover (:meth:`~satchel.storage.event_store.EventStore.read_since`), folds them in, and writes the
new state with its checkpoint (same batch of fsyncs, before the one vault commit).

No version counter protects the file, and none is needed: the state of an older mark (a restored
copy) is still the authentic state of the events it covers, and the delta read checks that the
committed events are those plus the new ones. A file that does not open (damaged, truncated, another
learner's or pipeline's) is recorded in the audit log as ``sample_cache.damaged`` and rebuilt.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from satchel.app.config import PipelineConfig
from satchel.audit.log import AuditLog
from satchel.errors import IntegrityError
from satchel.model.task import folds
from satchel.privacy._codec import frame
from satchel.privacy.atomic import fsync_dir
from satchel.storage.event_delta import Mark
from satchel.storage.sealed_files import SealedFiles

NAME = "samples.cache"
KIND = "sample-cache"
FORMAT = 1  # the sealed binding's version: the layout of :meth:`CachedState.to_bytes`
_KEY = 32


@dataclass(frozen=True)
class CachedState:
    """What the cache holds: its key, the mark of the events folded, the featurizer's state."""

    key: bytes
    mark: Mark
    state: bytes

    def to_bytes(self) -> bytes:
        mark = self.mark.to_bytes()
        return self.key + len(mark).to_bytes(8, "big") + mark + self.state

    @staticmethod
    def from_bytes(raw: bytes) -> CachedState:
        """The state :meth:`to_bytes` wrote; ValueError when it is not one."""
        size = int.from_bytes(raw[_KEY : _KEY + 8], "big")
        if len(raw) < _KEY + 8 + size:
            raise ValueError("the sample cache is shorter than its mark")
        start = _KEY + 8
        return CachedState(raw[:_KEY], Mark.from_bytes(raw[start : start + size]), raw[start + size :])


@dataclass(frozen=True)
class Prepared:
    """A training's data and the cache entry to write with its checkpoint (None: the cache is current or
    the featurizer does not fold). It holds no events: a runner's pass keeps it from plan to training."""

    data: Any
    pending: CachedState | None = None


def cache_key(p: PipelineConfig, featurizer: object) -> bytes | None:
    """The key a cached state must carry for ``p``'s featurizer; None when it does not fold."""
    if not folds(featurizer):
        return None
    options = p.featurizer.options.model_dump_json()
    version = str(getattr(featurizer, "cache_version", ""))
    schema = featurizer.schema.hash  # type: ignore[attr-defined]  # folds() checked the protocol
    return hashlib.sha256(
        frame(b"satchel/sample-cache", schema, p.featurizer.name, options, version)
    ).digest()


def load(files: SealedFiles, key: bytes, audit_log: AuditLog) -> CachedState | None:
    """The cached state if there is one for ``key``; a file that does not open is logged and removed."""
    if not files.exists(NAME):
        return None
    try:
        raw, _ = files.read(NAME, KIND, FORMAT)
        cached = CachedState.from_bytes(raw)
    except (IntegrityError, ValueError) as error:
        audit_log.append(
            "sample_cache.damaged",
            subject=files.subject,
            pipeline=files.pipeline,
            error=type(error).__name__,
        )
        drop(files)
        return None
    return cached if cached.key == key else None


def save(files: SealedFiles, cached: CachedState) -> None:
    """Seal and write (atomically; with the files' batch, made durable when the batch commits)."""
    files.write(NAME, KIND, FORMAT, cached.to_bytes())


def drop(files: SealedFiles) -> None:
    """Delete the cache (durably: a purged learner's derived data must not come back after a crash)."""
    if files.exists(NAME):
        files.delete(NAME)
        fsync_dir(files.root)
