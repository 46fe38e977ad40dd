"""satchel's privacy core: atomic files, envelope encryption, the key vault, pseudonyms, consent.

Typical wiring (the App facade does this)::

    vault = open_vault(provider, key_dir, app_id="quizapp", data_dir=data_dir, create=True)
    pseudonym = Pseudonymizer.from_vault(vault)("learner-42")
    key = vault.subject_key(pseudonym)
    version = vault.bump(f"ckpt/{pseudonym}/habit")
    binding = Binding("quizapp", pseudonym, "habit", "checkpoint", version)
    atomic_write(path, seal(payload, key, binding))

Submodules: :mod:`.atomic`, :mod:`.envelope`, :mod:`.vault`, :mod:`.pseudonym`, :mod:`.commitment`,
:mod:`.key_provider`, :mod:`.consent`. The audit log is :mod:`satchel.audit.log`.
"""

from typing import Any

from satchel.privacy.atomic import atomic_write, fsync_dir
from satchel.privacy.envelope import Binding, SubjectKey, open_sealed, seal
from satchel.privacy.key_provider import (
    KeyProvider,
    ProviderDescription,
    RotatableKeyProvider,
    open_vault,
    rotate_master_key,
)
from satchel.privacy.pseudonym import Pseudonymizer, is_pseudonym, require_pseudonym
from satchel.privacy.vault import Counter, RetiredKey, Rotation, Vault, VaultInfo, default_key_dir

__all__ = [
    "Binding",
    "Counter",
    "KeyProvider",
    "ProviderDescription",
    "Pseudonymizer",
    "RetiredKey",
    "RotatableKeyProvider",
    "Rotation",
    "SubjectKey",
    "Vault",
    "VaultInfo",
    "atomic_write",
    "default_key_dir",
    "fsync_dir",
    "is_pseudonym",
    "open_sealed",
    "open_vault",
    "require_pseudonym",
    "rotate_master_key",
    "seal",
]

_AUDIT_NAMES = ("AuditEntry", "AuditLog", "AuditProblem", "AuditVerification")


def __getattr__(name: str) -> Any:
    if name not in _AUDIT_NAMES:
        raise AttributeError(f"module 'satchel.privacy' has no attribute {name!r}")
    from satchel import _moved
    from satchel.audit import log

    _moved.warn_moved(f"satchel.privacy.{name}", f"satchel.audit.log.{name}")
    return getattr(log, name)
