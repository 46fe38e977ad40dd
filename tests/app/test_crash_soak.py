"""The SIGKILL soak (tests/crash_soak.py) at a CI-sized count: random kills during record, ingest,
train, erase and key rotation lose nothing acknowledged and corrupt nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "crash_soak.py"


def test_thirty_random_sigkills_lose_and_corrupt_nothing(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--runs",
            "30",
            "--dir",
            str(tmp_path / "soak"),
            "--seed",
            "7",
            "--max-delay",
            "1.5",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "30 SIGKILLs: nothing acknowledged lost, nothing corrupt" in result.stdout
