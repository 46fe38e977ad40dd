"""Keyed pseudonyms: stable, app-specific, not recomputable without the vault."""

from __future__ import annotations

import hashlib
import os

import pytest

from satchel.errors import PrivacyError
from satchel.privacy import Pseudonymizer, Vault, is_pseudonym, require_pseudonym

APP = "quizapp"  # the app id of the conftest vault


def test_stable_distinct_and_shaped(pseudonymize: Pseudonymizer) -> None:
    p = pseudonymize("alice")
    assert p == pseudonymize("alice") and is_pseudonym(p) and len(p) == 32
    assert len({pseudonymize(f"learner-{i}") for i in range(1000)}) == 1000
    assert pseudonymize("Alice") != p


def test_unicode_forms_map_to_one_pseudonym(pseudonymize: Pseudonymizer) -> None:
    assert pseudonymize("Zo\u00eb") == pseudonymize("Zoe\u0308")


def test_keyed_not_a_plain_hash(pseudonymize: Pseudonymizer, key_dir, data_dir) -> None:
    p = pseudonymize("alice")
    assert p not in {hashlib.sha256(b"alice").hexdigest()[:32], hashlib.md5(b"alice").hexdigest()}
    other_keys = key_dir.with_name("k2")
    with Vault.open(other_keys, os.urandom(32), app_id=APP, data_dir=data_dir, create=True) as other:
        assert Pseudonymizer.from_vault(other)("alice") != p


def test_guards(pseudonymize: Pseudonymizer) -> None:
    assert "key" in repr(pseudonymize) and pseudonymize._key.hex() not in repr(pseudonymize)
    with pytest.raises(ValueError):
        pseudonymize("")
    with pytest.raises(ValueError):
        Pseudonymizer(b"short")
    for raw in ("alice", "A" * 32, "0" * 31, 42, None):
        assert not is_pseudonym(raw)
        with pytest.raises(PrivacyError, match="never a raw learner id"):
            require_pseudonym(raw, "test")
