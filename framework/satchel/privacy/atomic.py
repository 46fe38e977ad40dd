"""Crash-safe file replacement.

:func:`atomic_write` writes to a temporary file in the target's directory, flushes and fsyncs it,
``os.replace``-s it over the target and fsyncs the directory. A reader (or a process restarted after
a crash or power loss) sees either the old content or the new content, never a mix. Temporary files
left by a killed writer are named ``.<target>.<pid>.<random>.tmp``; they are never read and are
removed by the next write to the same target once their writer process is gone.

Given a ``pending`` list, :func:`atomic_write` and :func:`make_dirs` leave their fsyncs to the caller:
they add the paths to make durable, and the caller syncs them all at once (:func:`fsync_all`, in
parallel, so the file system can group them into one journal commit) before it commits anything
that refers to them. Until then a power loss may leave the new name with incomplete content: only
for content that is verified against such a later commit (a sealed checkpoint whose hash the key
vault commits).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from collections.abc import Iterable
from pathlib import Path

_SUFFIX = ".tmp"


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make a rename or file creation inside ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_all(paths: Iterable[str | os.PathLike[str]]) -> None:
    """fsync every file and directory of ``paths`` (each once), concurrently; raises the first error."""
    unique = list(dict.fromkeys(Path(p) for p in paths))
    errors: list[OSError] = []

    def sync(path: Path) -> None:
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as error:
            errors.append(error)

    threads = [threading.Thread(target=sync, args=(path,)) for path in unique[1:]]
    for thread in threads:
        thread.start()
    for path in unique[:1]:
        sync(path)
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def make_dirs(
    directory: str | os.PathLike[str], *, mode: int = 0o700, pending: list[Path] | None = None
) -> None:
    """Create ``directory`` and missing parents durably: each new one's parent is fsync'd (or added
    to ``pending``)."""
    target = Path(directory)
    missing = []
    while not target.is_dir():
        missing.append(target)
        target = target.parent
    for new in reversed(missing):
        with contextlib.suppress(FileExistsError):  # created concurrently; fsync its parent all the same
            new.mkdir(mode=mode)
        if pending is None:
            fsync_dir(new.parent)
        else:
            pending.append(new.parent)


def atomic_write(
    path: str | os.PathLike[str], data: bytes, *, mode: int = 0o600, pending: list[Path] | None = None
) -> None:
    """Replace ``path`` with ``data`` atomically and durably; the file gets permissions ``mode``.
    With ``pending``, the file and its directory are added to it instead of fsync'd here."""
    target = Path(path)
    directory = target.parent
    _remove_stray_temps(target)
    tmp = directory / f".{target.name}.{os.getpid()}.{secrets.token_hex(6)}{_SUFFIX}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if pending is None:
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
    if pending is None:
        fsync_dir(directory)
    else:
        pending += [target, directory]


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
