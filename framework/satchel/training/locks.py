"""Per-(learner, pipeline) training locks that hold across processes.

A lock is an exclusive ``flock`` on ``<data dir>/locks/<pseudonym>.<pipeline>.lock``. The kernel
releases it when the holder exits or is killed, so a lock left by a dead runner is never stale: the
next runner simply gets it. The holder writes its pid into the file for ``satchel status``; the pid
is informational only (never used to decide ownership), so pid reuse cannot make a lock look held.
Lock files are kept (deleting a file others may have open would let two holders coexist).
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from satchel.privacy.pseudonym import require_pseudonym

LOCK_DIR = "locks"


class ModelLock:
    """The training lock of one learner's pipeline. Non-blocking: :meth:`acquire` says whether it got it."""

    def __init__(self, data_dir: Path, pseudonym: str, pipeline: str) -> None:
        require_pseudonym(pseudonym, "ModelLock(pseudonym)")
        self.path = Path(data_dir) / LOCK_DIR / f"{pseudonym}.{pipeline}.lock"
        self._fd: int | None = None

    def _open(self) -> int:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)

    def acquire(self) -> bool:
        """Take the lock if nobody holds it; ``False`` when another holder (any process) has it."""
        if self._fd is not None:
            raise RuntimeError(f"{self.path.name} is already held by this object")
        fd = self._open()
        if not _try_flock(fd, fcntl.LOCK_EX):
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return True

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the descriptor drops the flock

    def holder(self) -> int | None:
        """The pid holding the lock now, ``-1`` if held by an unknown pid, ``None`` if free."""
        if self._fd is not None:
            return os.getpid()
        if not self.path.exists():
            return None
        fd = self._open()
        try:
            if _try_flock(fd, fcntl.LOCK_SH):
                return None
            raw = os.pread(fd, 32, 0).decode(errors="replace").strip()
            return int(raw) if raw.isdigit() else -1
        finally:
            os.close(fd)

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _try_flock(fd: int, kind: int) -> bool:
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True
