"""End to end: nothing personal reaches disk in the clear, in either directory."""

from __future__ import annotations

import os
from pathlib import Path

from satchel.audit.log import AuditLog
from satchel.privacy import Binding, Vault, atomic_write, open_sealed, seal

APP = "quizapp"  # the app id of the conftest vault

CANARY = "CANARY-7f3e1a9c: Zoë's essay about her grandmother"
LEARNER = "zoe.mueller@school.example"


def test_canary_and_learner_id_never_on_disk(
    vault: Vault, key_dir: Path, data_dir: Path, pseudonymize, tree_bytes
) -> None:
    pseudonym = pseudonymize(LEARNER)
    key = vault.subject_key(pseudonym)
    audit = AuditLog(data_dir / "audit.jsonl", vault)
    for version in range(1, 4):
        binding = Binding(APP, pseudonym, "rubric", "events", vault.bump(f"events/{pseudonym}"))
        path = data_dir / pseudonym / "events.bin"
        path.parent.mkdir(exist_ok=True)
        atomic_write(path, seal(CANARY.encode() * version, key, binding))
        audit.append("events.recorded", subject=pseudonym, pipeline="rubric", count=version)
    assert open_sealed(path.read_bytes(), key, binding) == CANARY.encode() * 3
    vault.rotate(os.urandom(32))

    files = tree_bytes(data_dir, key_dir)
    assert len(files) >= 3
    texts = (CANARY, "CANARY-7f3e1a9c", LEARNER, "Zoë")
    needles = [text.encode(encoding) for text in texts for encoding in ("utf-8", "utf-16-le")]
    needles.append(b"zoe.mueller")
    for path, content in files:
        for needle in needles:
            assert needle not in content, f"{needle!r} found in {path}"
        assert key.secret not in content, f"a subject key found in {path}"
