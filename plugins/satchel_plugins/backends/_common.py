"""What both backends share, gathered for them: the trainer base and its export (:mod:`._trainer_base`),
the compile cache (:mod:`._compile_cache`) and the fit step type (:mod:`._fit_loop`); input checks are
in :mod:`._input_checks`, the optimizer state in :mod:`._optimizer_state`.
"""

from __future__ import annotations

from satchel_plugins.backends._compile_cache import (
    FORMAT_VERSION,
    check_compiled,
    compile_cached,
    dist_version,
)
from satchel_plugins.backends._fit_loop import StepFn
from satchel_plugins.backends._input_checks import Arrays
from satchel_plugins.backends._trainer_base import Export, TrainerBase, artifact

__all__ = [
    "FORMAT_VERSION",
    "Arrays",
    "Export",
    "StepFn",
    "TrainerBase",
    "artifact",
    "check_compiled",
    "compile_cached",
    "dist_version",
]
