"""TensorFlow's native log lines (absl/oneDNN banners written straight to fd 2) kept off stderr.

They are printed by C++ before Python logging is configured, so no environment variable silences
them all. :func:`quiet_native_logs` captures fd 2 while TensorFlow works, then writes back every
captured line except those banners — all of it when the block fails.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

#: lines TensorFlow prints on import and conversion that say nothing about satchel's work
_NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\)|[IW]\d{4} [\d:.]+ +\d+ \S+\.cc:\d+\]|"
    rb"To enable the following instructions:|WARNING:tensorflow:AutoGraph|"
    rb"INFO: Created TensorFlow Lite XNNPACK delegate for CPU)"
)


@contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Run the block with fd 2 captured; replay what was not TensorFlow noise (all of it on error)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:  # log text only: never personal data or weights
        os.dup2(captured.fileno(), 2)
        failed = True
        try:
            yield
            failed = False
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().splitlines(keepends=True)
            kept = lines if failed else [line for line in lines if not _NOISE.match(line)]
            if kept:
                sys.stderr.buffer.write(b"".join(kept))
                sys.stderr.flush()
