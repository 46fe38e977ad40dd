"""pytest fixtures for satchel plugin authors (registered through the ``pytest11`` entry point)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from satchel.plugin.registry import Registry
from satchel.testing import isolated_registry


@pytest.fixture
def satchel_registry() -> Registry:
    """An isolated registry with satchel's built-in plugins only."""
    return isolated_registry()


@pytest.fixture
def satchel_config(tmp_path: Path) -> Callable[[str], Path]:
    """Write a TOML config into a temporary app directory and return its path.

    ``[app] data_dir`` and ``key_dir`` default to folders under ``tmp_path`` when not given.
    """

    def write(text: str) -> Path:
        if "data_dir" not in text:
            text = text.replace(
                "[app]",
                f'[app]\ndata_dir = "{(tmp_path / "data").as_posix()}"\n'
                f'key_dir = "{(tmp_path / "keys").as_posix()}"',
                1,
            )
        path = tmp_path / "satchel.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write
