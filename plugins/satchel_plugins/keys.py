"""Registers the built-in key providers (:mod:`satchel_plugins.key_providers`): ``env``,
``keyring``, ``passphrase`` and ``insecure_file``.

This is the ``keys`` entry point, imported whenever satchel loads its plugins (even for
``satchel --help``), so the providers — cryptography, the key vault, pydantic — load only when the
hook runs. The providers and their options are importable from here too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from satchel.hookspecs import hookimpl
from satchel_plugins._lazy import lazy_exports

if TYPE_CHECKING:
    from satchel.records import KeyProviderSpec
    from satchel_plugins.key_providers import (
        GENERATE_HINT,
        Argon2Params,
        EnvKeyOptions,
        EnvKeyProvider,
        InsecureFileKeyProvider,
        InsecureFileOptions,
        KeyringKeyProvider,
        KeyringOptions,
        PassphraseKeyProvider,
        PassphraseOptions,
        Prompt,
        decode_key,
    )

_EXPORTS = dict.fromkeys(
    (
        "GENERATE_HINT",
        "Argon2Params",
        "EnvKeyOptions",
        "EnvKeyProvider",
        "InsecureFileKeyProvider",
        "InsecureFileOptions",
        "KeyringKeyProvider",
        "KeyringOptions",
        "PassphraseKeyProvider",
        "PassphraseOptions",
        "Prompt",
        "decode_key",
    ),
    "satchel_plugins.key_providers",
)


@hookimpl
def satchel_key_providers() -> Iterator[KeyProviderSpec]:
    from satchel.records import KeyProviderSpec
    from satchel_plugins.key_providers import (
        EnvKeyOptions,
        EnvKeyProvider,
        InsecureFileKeyProvider,
        InsecureFileOptions,
        KeyringKeyProvider,
        KeyringOptions,
        PassphraseKeyProvider,
        PassphraseOptions,
    )

    yield KeyProviderSpec(
        "env", EnvKeyProvider, EnvKeyOptions, "master key from an environment variable (CI, servers)"
    )
    yield KeyProviderSpec(
        "keyring", KeyringKeyProvider, KeyringOptions, "master key in the OS keyring, created on first use"
    )
    yield KeyProviderSpec(
        "passphrase",
        PassphraseKeyProvider,
        PassphraseOptions,
        "random master key wrapped by an Argon2id-derived passphrase key",
    )
    yield KeyProviderSpec(
        "insecure_file",
        InsecureFileKeyProvider,
        InsecureFileOptions,
        "INSECURE: plaintext key file, for demos only",
        insecure=True,
    )


__getattr__ = lazy_exports(globals(), _EXPORTS)


__all__ = [
    "GENERATE_HINT",
    "Argon2Params",
    "EnvKeyOptions",
    "EnvKeyProvider",
    "InsecureFileKeyProvider",
    "InsecureFileOptions",
    "KeyringKeyProvider",
    "KeyringOptions",
    "PassphraseKeyProvider",
    "PassphraseOptions",
    "Prompt",
    "decode_key",
    "satchel_key_providers",
]
