"""The ``env`` key provider: the master key in an environment variable (CI, servers)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field

from satchel.errors import KeyUnavailableError
from satchel.privacy.key_provider import ProviderDescription
from satchel_plugins.key_providers.key_material import GENERATE_HINT, Prompt, ProviderOptions, decode_key


class EnvKeyOptions(ProviderOptions):
    variable: str = Field("SATCHEL_MASTER_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class EnvKeyProvider:
    """The master key from an environment variable (base64 or hex). Rotate by hand with ``vault.rotate``."""

    def __init__(
        self, options: EnvKeyOptions, *, app_id: str, key_dir: Path, prompt: Prompt | None = None
    ) -> None:
        self.options = options

    def load_master_key(self) -> bytes:
        name = self.options.variable
        value = os.environ.get(name)
        if not value:
            raise KeyUnavailableError(
                f"environment variable {name} is not set (key provider 'env')",
                hint=f"set {name} to a base64 32-byte key; {GENERATE_HINT}",
            )
        return decode_key(value, f"environment variable {name}")

    def describe(self) -> ProviderDescription:
        return ProviderDescription(
            "env",
            f"environment variable {self.options.variable}",
            settings={"variable": self.options.variable},
        )
