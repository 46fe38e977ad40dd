"""The Python API: ``satchel.open(config)`` returns an :class:`App`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from satchel.config import AppConfig, PipelineConfig, load_config
from satchel.errors import ConfigError
from satchel.registry import Registry, unknown_choice


class App:
    """One configured app: its validated pipelines and the plugins behind them."""

    def __init__(self, config: AppConfig, registry: Registry) -> None:
        self.config = config
        self.registry = registry

    @property
    def app_id(self) -> str:
        return self.config.app_id

    @property
    def pipelines(self) -> Mapping[str, PipelineConfig]:
        return self.config.pipelines

    def pipeline(self, name: str) -> PipelineConfig:
        """The pipeline called ``name``; an unknown name lists the configured ones."""
        try:
            return self.config.pipelines[name]
        except KeyError:
            raise ConfigError([("pipelines", unknown_choice("pipeline", name, self.config.pipelines))]) from None

    def __repr__(self) -> str:
        return f"<satchel.App {self.app_id!r} pipelines={list(self.pipelines)}>"


def open(source: str | Path | Mapping[str, Any] | AppConfig, *, registry: Registry | None = None) -> App:  # noqa: A001
    """Open an app from a config file path, TOML text, a mapping, or a loaded :class:`AppConfig`."""
    registry = registry or Registry()
    config = source if isinstance(source, AppConfig) else load_config(source, registry)
    return App(config, registry)
