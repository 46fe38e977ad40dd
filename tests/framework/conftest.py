"""Fixtures of the framework tests."""

from __future__ import annotations

import pytest
from toy_plugin import make_toy_plugin


@pytest.fixture
def toy_registry():
    from satchel.testing import isolated_registry

    return isolated_registry({"toy": make_toy_plugin()})
