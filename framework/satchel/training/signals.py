"""SIGTERM and SIGINT as a clean stop request for the training runner; a second signal exits at once."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from satchel.training.outcomes import EXIT_INTERRUPTED

log = logging.getLogger("satchel.training.runner")  # the runner's logger: `satchel run -v` shows it


@contextmanager
def handle_signals(stop: threading.Event) -> Iterator[None]:
    """While inside, SIGTERM and SIGINT set ``stop`` (a clean stop between steps); a second signal
    exits at once with 130 — safe too, as every write is atomic. Main thread only."""

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            os.write(2, b"satchel: second signal, exiting now\n")
            os._exit(EXIT_INTERRUPTED)
        log.warning("%s received: stopping; a training in progress is abandoned", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
