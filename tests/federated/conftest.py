"""Federated tests need the ``federated`` extra (flwr, dp-accounting; part of ``test``)."""

import pytest

pytest.importorskip("dp_accounting")
