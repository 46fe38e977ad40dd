"""A session-wide compile cache: each (backend, spec) compiles once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from specs import BACKENDS

from satchel.model.backend import CompiledModel, Trainer, TrainerBackend, Weights
from satchel.model.spec import ModelSpec
from satchel_plugins.backends import satchel_trainer_backends


@pytest.fixture(scope="session")
def backends() -> dict[str, TrainerBackend]:
    """The backends as the registry builds them: from the plugin's BackendSpec records."""
    return {spec.name: spec.create() for spec in satchel_trainer_backends()}


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("compile-cache")


@pytest.fixture(scope="session")
def compile_spec(
    backends: dict[str, TrainerBackend], cache_dir: Path
) -> Callable[[str, ModelSpec], CompiledModel]:
    """``compile_spec(backend, spec)``; the disk cache makes repeats cheap, the memo makes them free."""
    memo: dict[tuple[str, str], CompiledModel] = {}

    def compile_(backend: str, spec: ModelSpec) -> CompiledModel:
        key = (backend, spec.hash)
        if key not in memo:
            memo[key] = backends[backend].compile(spec, cache_dir)
        return memo[key]

    return compile_


@pytest.fixture(scope="session")
def open_trainer(
    backends: dict[str, TrainerBackend], compile_spec: Callable[[str, ModelSpec], CompiledModel]
) -> Callable[..., Trainer]:
    def open_(backend: str, spec: ModelSpec, weights: Weights | None = None) -> Trainer:
        return backends[backend].open(compile_spec(backend, spec), weights)

    return open_


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param
