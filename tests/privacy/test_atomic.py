"""atomic_write: a target is always either the old or the new content, even under SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from satchel.privacy import atomic_write

SIZE = 1 << 20  # 1 MiB: big enough that a kill lands mid-write

WRITER = """
import sys
from satchel.privacy import atomic_write
path, size = sys.argv[1], int(sys.argv[2])
i = 0
print("ready", flush=True)
while True:
    atomic_write(path, bytes([65 + i % 2]) * size)
    i += 1
"""


def test_writes_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "blob"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert os.stat(target).st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["blob"]


def test_sigkill_mid_write_leaves_old_or_new(tmp_path: Path) -> None:
    target = tmp_path / "blob"
    atomic_write(target, b"A" * SIZE)
    stray_seen = 0
    for delay in (0.05, 0.11, 0.17, 0.23, 0.31, 0.37):
        command = [sys.executable, "-c", WRITER, str(target), str(SIZE)]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE)
        assert proc.stdout.readline() == b"ready\n"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        content = target.read_bytes()
        assert content in (b"A" * SIZE, b"B" * SIZE), f"torn target after kill at {delay}s"
        stray_seen += len(list(tmp_path.glob(".blob.*.tmp")))
        atomic_write(target, b"A" * SIZE)  # the next write removes the dead writer's temp file
        assert list(tmp_path.glob(".blob.*.tmp")) == []
    assert stray_seen >= 1, "no kill landed mid-write; the test did not exercise the crash path"


def test_live_writers_temp_files_are_not_removed(tmp_path: Path) -> None:
    target = tmp_path / "blob"
    mine = tmp_path / f".blob.{os.getpid()}.abcdef.tmp"  # as if another thread of ours were writing
    mine.write_bytes(b"in flight")
    atomic_write(target, b"x")
    assert mine.exists()
