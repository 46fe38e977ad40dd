"""Built-in key providers: where the app's 32-byte master key lives.

=================  ============================================================  ===========
provider           key material                                                  rotatable
=================  ============================================================  ===========
``env``            base64 or hex in an environment variable (CI, servers)        no
``keyring``        the OS keyring (service ``satchel``, user = app id)           yes
``passphrase``     random key wrapped by Argon2id(passphrase) in the key dir     yes
``insecure_file``  **plaintext** key file in the key dir (demos only)            yes
=================  ============================================================  ===========

Every provider fails closed with :class:`~satchel.errors.KeyUnavailableError`; none falls back to
another, and only ``insecure_file`` (``KeyProviderSpec.insecure=True``) ever writes a plaintext key.
Factories are called as ``factory(options, app_id=..., key_dir=..., prompt=None)``; see
:mod:`satchel.privacy.key_provider` for the contract and the two-phase rotation.
"""

from __future__ import annotations

from collections.abc import Iterator

from satchel.plugin.hookspecs import hookimpl
from satchel.plugin.records import KeyProviderSpec
from satchel_plugins.key_providers.env import EnvKeyOptions, EnvKeyProvider
from satchel_plugins.key_providers.insecure_file import InsecureFileKeyProvider, InsecureFileOptions
from satchel_plugins.key_providers.key_material import GENERATE_HINT, Prompt, decode_key
from satchel_plugins.key_providers.os_keyring import KeyringKeyProvider, KeyringOptions
from satchel_plugins.key_providers.passphrase import Argon2Params, PassphraseKeyProvider, PassphraseOptions


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
