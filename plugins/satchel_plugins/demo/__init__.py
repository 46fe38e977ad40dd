"""``satchel demo``: three learning apps and a handful of simulated learners, end to end, on this device.

A habit tracker, a vocabulary app and a grading assistant, each a real :func:`satchel.open` app with
embedded settings: consent (a minor's own consent is refused, a guardian's accepted; recording
without consent is refused), events recorded and imported (an Anki review log, a gradebook CSV) and
sealed with AES-256-GCM, each learner's model trained by LiteRT with progress bars, their decisions,
a withdrawal and an erasure, and the privacy audit. Data goes to a fresh temporary directory (or
``--data-dir``), the key vaults to a separate temporary directory, and the master key is generated in
this process into an environment variable (key provider ``env``), so no key file is ever written.
"""

from __future__ import annotations

from satchel_plugins.demo.apps import (
    APPS,
    CONFIG,
    GRADING,
    HABITS,
    KEY_VARIABLE,
    NOTICES,
    POLICY,
    VOCABULARY,
    DemoApp,
)
from satchel_plugins.demo.command import demo
from satchel_plugins.demo.privacy_scenes import PLAINTEXT_PROBES
from satchel_plugins.demo.rendering import REFUSED

__all__ = [
    "APPS",
    "CONFIG",
    "GRADING",
    "HABITS",
    "KEY_VARIABLE",
    "NOTICES",
    "PLAINTEXT_PROBES",
    "POLICY",
    "REFUSED",
    "VOCABULARY",
    "DemoApp",
    "demo",
]
