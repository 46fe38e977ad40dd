"""Shared fixtures for the privacy tests: separate data and key directories, a real vault."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from satchel.privacy import Pseudonymizer, Vault

APP = "quizapp"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys"


@pytest.fixture
def master_key() -> bytes:
    return os.urandom(32)


@pytest.fixture
def vault(key_dir: Path, data_dir: Path, master_key: bytes):
    with Vault.open(key_dir, master_key, app_id=APP, data_dir=data_dir, create=True) as v:
        yield v


@pytest.fixture
def pseudonymize(vault: Vault) -> Pseudonymizer:
    return Pseudonymizer.from_vault(vault)


def _tree_bytes(*roots: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for root in roots for p in sorted(root.rglob("*")) if p.is_file()]


@pytest.fixture
def tree_bytes():
    """``tree_bytes(*roots)``: every file under ``roots`` with its content (journals, temp files too)."""
    return _tree_bytes
