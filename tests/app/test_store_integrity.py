"""Attacker-style tests of storage integrity: edit, delete, swap and restore files on disk with
sqlite3 and byte edits, then check the API refuses with a clear IntegrityError (never raw sqlite3)."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone

import pytest

from satchel.errors import KeyUnavailableError

NOW = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)


def test_missing_key_dir_beside_existing_data_is_refused(make_app, tmp_path):
    make_app().close()
    (tmp_path / "data" / "audit.jsonl").touch()
    shutil.rmtree(tmp_path / "keys")
    with pytest.raises(KeyUnavailableError, match="already holds data") as caught:
        make_app()
    assert "new_keys=True" in str(caught.value)
    (tmp_path / "keys").mkdir()
    with pytest.raises(KeyUnavailableError, match="no key vault"):
        make_app()


def test_new_keys_flag_starts_over_explicitly(make_app, tmp_path):
    import satchel
    from satchel.testing import isolated_registry

    make_app().close()
    shutil.rmtree(tmp_path / "keys")
    with satchel.open(tmp_path / "satchel.toml", registry=isolated_registry(), new_keys=True) as app:
        assert app.subjects() == ()
