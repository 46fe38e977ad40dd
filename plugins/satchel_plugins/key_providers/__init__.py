"""Built-in key providers (:mod:`.providers`): where the app's 32-byte master key lives — ``env``,
``keyring``, ``passphrase`` and ``insecure_file``."""

from __future__ import annotations

from collections.abc import Iterator

from satchel.plugin.hookspecs import hookimpl
from satchel.plugin.records import KeyProviderSpec
from satchel_plugins.key_providers.providers import (
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


@hookimpl
def satchel_key_providers() -> Iterator[KeyProviderSpec]:
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
