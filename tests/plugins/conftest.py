"""Shared fixtures: real training backends, each spec compiled once per session; shared data paths."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pytest

from satchel.model.backend import Trainer, Weights
from satchel.model.spec import ModelSpec

BACKENDS = ("litert", "onnx")

OpenTrainer = Callable[[ModelSpec, "Mapping[str, np.ndarray] | None"], Trainer]


def _make_backend(name: str):
    if name == "litert":
        from satchel_plugins.backends.litert import LiteRTBackend

        return LiteRTBackend()
    from satchel_plugins.backends.onnx_training import OnnxBackend

    return OnnxBackend()


@pytest.fixture(scope="session")
def compiled_cache() -> dict[tuple[str, str], object]:
    return {}


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("compiled")


@pytest.fixture(scope="session", params=BACKENDS)
def backend_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def open_trainer(backend_name: str, cache_dir: Path, compiled_cache: dict) -> OpenTrainer:
    """Opens a trainer for a spec on the session's backend (compiling each spec once), from ``params``."""
    backend = _make_backend(backend_name)

    def open_(spec: ModelSpec, params: Mapping[str, np.ndarray] | None = None) -> Trainer:
        key = (backend_name, spec.hash)
        if key not in compiled_cache:
            compiled_cache[key] = backend.compile(spec, cache_dir)
        weights = (
            None if params is None else Weights({k: np.asarray(v, np.float32) for k, v in params.items()})
        )
        return backend.open(compiled_cache[key], weights)

    return open_
