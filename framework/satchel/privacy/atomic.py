"""Crash-safe file replacement.

:func:`atomic_write` writes to a temporary file in the target's directory, flushes and fsyncs it,
``os.replace``-s it over the target and fsyncs the directory. A reader (or a process restarted after
a crash or power loss) sees either the old content or the new content, never a mix. Temporary files
left by a killed writer are named ``.<target>.<pid>.<random>.tmp``; they are never read and are
removed by the next write to the same target once their writer process is gone.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

_SUFFIX = ".tmp"


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make a rename or file creation inside ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(directory: str | os.PathLike[str], *, mode: int = 0o700) -> None:
    """Create ``directory`` and missing parents durably: each new one's parent is fsync'd."""
    target = Path(directory)
    missing = []
    while not target.is_dir():
        missing.append(target)
        target = target.parent
    for new in reversed(missing):
        try:
            new.mkdir(mode=mode)
        except FileExistsError:  # created concurrently; fsync its parent all the same
            pass
        fsync_dir(new.parent)


def atomic_write(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` atomically and durably; the file gets permissions ``mode``."""
    target = Path(path)
    directory = target.parent
    _remove_stray_temps(target)
    tmp = directory / f".{target.name}.{os.getpid()}.{secrets.token_hex(6)}{_SUFFIX}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    try:
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(directory)


def _remove_stray_temps(target: Path) -> None:
    prefix = f".{target.name}."
    try:
        names = os.listdir(target.parent)
    except FileNotFoundError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(_SUFFIX)):
            continue
        pid_text = name[len(prefix) :].split(".", 1)[0]
        if pid_text.isdigit() and not process_alive(int(pid_text)):
            (target.parent / name).unlink(missing_ok=True)


def process_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists (so its scratch files are still in use)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
