"""Key providers: each fails closed, none but insecure_file writes a plaintext key."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import keyring
import pluggy
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail, null
from keyring.errors import KeyringLocked, PasswordDeleteError
from pydantic import ValidationError

from satchel.errors import KeyUnavailableError
from satchel.plugin import hookspecs
from satchel.plugin.records import KeyProviderSpec
from satchel.privacy import KeyProvider, RotatableKeyProvider, open_vault, rotate_master_key
from satchel_plugins import key_providers
from satchel_plugins.key_providers import (
    Argon2Params,
    EnvKeyOptions,
    EnvKeyProvider,
    InsecureFileKeyProvider,
    InsecureFileOptions,
    KeyringKeyProvider,
    KeyringOptions,
    PassphraseKeyProvider,
    PassphraseOptions,
)

APP = "quizapp"  # the app id of the conftest vault
FAST = Argon2Params(memory_kib=256, time_cost=1, parallelism=1)  # tests only; defaults are OWASP-grade
PASSPHRASE = "correct horse battery staple"


class MemoryKeyring(KeyringBackend):
    """A real keyring backend that keeps passwords in a dict."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


class LockedKeyring(MemoryKeyring):
    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("the login keychain is locked")


@pytest.fixture
def use_keyring():
    previous = keyring.get_keyring()

    def install(backend: KeyringBackend) -> KeyringBackend:
        keyring.set_keyring(backend)
        return backend

    yield install
    keyring.set_keyring(previous)


@pytest.fixture
def memory_keyring(use_keyring) -> MemoryKeyring:
    return use_keyring(MemoryKeyring())


def passphrase_provider(key_dir: Path, **kwargs) -> PassphraseKeyProvider:
    options = PassphraseOptions(passphrase_env="TEST_SATCHEL_PASSPHRASE")
    return PassphraseKeyProvider(options, app_id=APP, key_dir=key_dir, kdf=kwargs.pop("kdf", FAST), **kwargs)


def key_forms(key: bytes) -> list[bytes]:
    return [key, key.hex().encode(), base64.b64encode(key), base64.urlsafe_b64encode(key)]


# ------------------------------------------------------------------ registration


def test_hook_registers_four_providers() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(key_providers)
    specs = [spec for batch in pm.hook.satchel_key_providers() for spec in batch]
    assert all(isinstance(s, KeyProviderSpec) for s in specs)
    assert {s.name: s.insecure for s in specs} == {
        "env": False,
        "keyring": False,
        "passphrase": False,
        "insecure_file": True,
    }
    for spec in specs:
        assert spec.options.model_config["extra"] == "forbid"
        with pytest.raises(ValidationError):
            spec.options(unknown_option=1)
        assert isinstance(spec.create(app_id=APP, key_dir=Path("/nonexistent"), prompt=None), KeyProvider)


# ------------------------------------------------------------------ env


@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode, lambda k: k.hex().encode()])
def test_env_reads_base64_or_hex(monkeypatch, tmp_path, encode) -> None:
    key = os.urandom(32)
    monkeypatch.setenv("SATCHEL_MASTER_KEY", encode(key).decode())
    provider = EnvKeyProvider(EnvKeyOptions(), app_id=APP, key_dir=tmp_path)
    assert provider.load_master_key() == key
    assert provider.describe().summary == "environment variable SATCHEL_MASTER_KEY"
    assert not isinstance(provider, RotatableKeyProvider)


def test_env_missing_names_variable_and_how_to_generate(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("CI_KEY", raising=False)
    provider = EnvKeyProvider(EnvKeyOptions(variable="CI_KEY"), app_id=APP, key_dir=tmp_path)
    with pytest.raises(KeyUnavailableError, match="CI_KEY is not set") as caught:
        provider.load_master_key()
    assert "secrets.token_bytes(32)" in str(caught.value)


@pytest.mark.parametrize("value", ["not a key!", base64.b64encode(b"x" * 16).decode(), "ab" * 33])
def test_env_malformed_key_is_rejected_without_echo(monkeypatch, tmp_path, value) -> None:
    monkeypatch.setenv("SATCHEL_MASTER_KEY", value)
    with pytest.raises(KeyUnavailableError, match="SATCHEL_MASTER_KEY") as caught:
        EnvKeyProvider(EnvKeyOptions(), app_id=APP, key_dir=tmp_path).load_master_key()
    assert value not in str(caught.value) and "generate one" in str(caught.value)


def test_env_fails_closed_nothing_opens(monkeypatch, key_dir, data_dir) -> None:
    monkeypatch.delenv("SATCHEL_MASTER_KEY", raising=False)
    provider = EnvKeyProvider(EnvKeyOptions(), app_id=APP, key_dir=key_dir)
    with pytest.raises(KeyUnavailableError):
        open_vault(provider, key_dir, app_id=APP, data_dir=data_dir, create=True)
    assert not key_dir.exists()
    with pytest.raises(KeyUnavailableError, match="cannot create master keys"):
        rotate_master_key(object(), provider)  # type: ignore[arg-type]


# ------------------------------------------------------------------ keyring


def test_keyring_generates_once_and_keeps_it(memory_keyring: MemoryKeyring, key_dir) -> None:
    provider = KeyringKeyProvider(KeyringOptions(), app_id=APP, key_dir=key_dir)
    key = provider.load_master_key()
    assert len(key) == 32 and provider.load_master_key() == key
    assert list(memory_keyring.entries) == [("satchel", APP)]
    assert KeyringKeyProvider(KeyringOptions(), app_id="other", key_dir=key_dir).load_master_key() != key
    assert "MemoryKeyring" in provider.describe().summary
    assert not key_dir.exists()  # nothing written to disk by this provider


@pytest.mark.parametrize("backend", [fail.Keyring, null.Keyring, LockedKeyring])
def test_keyring_unusable_backend_fails_closed(use_keyring, key_dir, data_dir, backend) -> None:
    use_keyring(backend())
    provider = KeyringKeyProvider(KeyringOptions(), app_id=APP, key_dir=key_dir)
    with pytest.raises(KeyUnavailableError, match="keyring"):
        provider.load_master_key()
    assert "keyring" in provider.describe().summary  # the audit report can still describe it
    with pytest.raises(KeyUnavailableError):
        open_vault(provider, key_dir, app_id=APP, data_dir=data_dir, create=True)
    assert not key_dir.exists()


def test_keyring_backend_that_forgets_is_rejected(use_keyring, key_dir) -> None:
    class Forgetful(MemoryKeyring):
        def set_password(self, service: str, username: str, password: str) -> None:
            pass

    use_keyring(Forgetful())
    with pytest.raises(KeyUnavailableError, match="did not keep"):
        KeyringKeyProvider(KeyringOptions(), app_id=APP, key_dir=key_dir).load_master_key()


# ------------------------------------------------------------------ passphrase


def test_passphrase_round_trip_and_file_holds_no_plaintext_key(monkeypatch, key_dir, tree_bytes) -> None:
    monkeypatch.setenv("TEST_SATCHEL_PASSPHRASE", PASSPHRASE)
    key = passphrase_provider(key_dir).load_master_key()
    assert passphrase_provider(key_dir).load_master_key() == key
    doc = json.loads((key_dir / "master-key.argon2id.json").read_text())
    assert (doc["kdf"], doc["memory_kib"], doc["time_cost"]) == ("argon2id", FAST.memory_kib, FAST.time_cost)
    for _, content in tree_bytes(key_dir):
        assert not any(form in content for form in key_forms(key))
        assert PASSPHRASE.encode() not in content


def test_passphrase_from_prompt(key_dir) -> None:
    asked: list[str] = []

    def prompt(question: str) -> str:
        asked.append(question)
        return PASSPHRASE

    key = passphrase_provider(key_dir, prompt=prompt).load_master_key()
    assert passphrase_provider(key_dir, prompt=lambda q: PASSPHRASE).load_master_key() == key
    assert asked == [f"Passphrase for satchel app {APP}: "]


def test_passphrase_variable_is_used_before_the_prompt(monkeypatch, key_dir) -> None:
    """A scheduler sets the variable: the prompt (a terminal, which it lacks) is never asked."""
    monkeypatch.delenv("TEST_SATCHEL_PASSPHRASE", raising=False)
    key = passphrase_provider(key_dir, prompt=lambda q: PASSPHRASE).load_master_key()
    monkeypatch.setenv("TEST_SATCHEL_PASSPHRASE", PASSPHRASE)

    def no_terminal(question: str) -> str:
        raise AssertionError("prompted although the passphrase variable is set")

    assert passphrase_provider(key_dir, prompt=no_terminal).load_master_key() == key


_CLI_CONFIG = """
[app]
id = "{app}"
data_dir = "{data}"
key_dir = "{keys}"

[privacy]
key_provider = {{ name = "passphrase", options = {{ passphrase_env = "TEST_SATCHEL_PASSPHRASE", memory_kib = 19456, time_cost = 2 }} }}

[pipelines.habits]
model = "habit"
purposes = ["habit_reminders"]
"""


def test_cli_unlocks_from_the_variable_without_a_terminal(monkeypatch, tmp_path) -> None:
    from click.testing import CliRunner

    from satchel.cli import cli

    config = tmp_path / "satchel.toml"
    config.write_text(
        _CLI_CONFIG.format(app=APP, data=(tmp_path / "data").as_posix(), keys=(tmp_path / "keys").as_posix())
    )
    monkeypatch.delenv("TEST_SATCHEL_PASSPHRASE", raising=False)
    refused = CliRunner().invoke(cli, ["audit", "verify", "-c", str(config)], obj={})  # stdin is no terminal
    assert refused.exit_code == 1 and refused.output.startswith("error:") and "no terminal" in refused.output
    monkeypatch.setenv("TEST_SATCHEL_PASSPHRASE", PASSPHRASE)
    for _ in range(2):  # creates the key file, then unlocks it
        result = CliRunner().invoke(cli, ["audit", "verify", "-c", str(config)], obj={})
        assert result.exit_code == 0 and "audit log ok" in result.output, result.output


def test_readme_names_the_options_the_key_providers_have() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("Key providers: `env`") :]
    section = section[: section.index("\n\n")]
    named = {"env": "variable", "passphrase": "passphrase_env"}
    models = {"env": EnvKeyOptions, "passphrase": PassphraseOptions}
    for provider, option in named.items():
        assert f"`options.{option}`" in section and option in models[provider].model_fields
    assert section.count("`options.") == len(named)


def test_wrong_or_missing_passphrase(monkeypatch, key_dir) -> None:
    passphrase_provider(key_dir, prompt=lambda q: PASSPHRASE).load_master_key()
    with pytest.raises(KeyUnavailableError, match="wrong passphrase"):
        passphrase_provider(key_dir, prompt=lambda q: PASSPHRASE + "!").load_master_key()
    monkeypatch.delenv("TEST_SATCHEL_PASSPHRASE", raising=False)
    with pytest.raises(KeyUnavailableError, match="TEST_SATCHEL_PASSPHRASE is empty"):
        passphrase_provider(key_dir).load_master_key()
    with pytest.raises(KeyUnavailableError, match="shorter than 8"):
        passphrase_provider(key_dir / "new", prompt=lambda q: "short").load_master_key()


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d.update(time_cost=d["time_cost"] + 1),
        lambda d: d.update(memory_kib=d["memory_kib"] * 2),
        lambda d: d.update(salt=base64.b64encode(os.urandom(16)).decode()),
        lambda d: d["current"].update(wrapped=d["staged"]["wrapped"], nonce=d["staged"]["nonce"]),
    ],
    ids=["time_cost", "memory", "salt", "staged_as_current"],
)
def test_tampered_passphrase_file_is_detected(key_dir, tamper) -> None:
    provider = passphrase_provider(key_dir, prompt=lambda q: PASSPHRASE)
    provider.load_master_key()
    provider.stage_master_key()
    path = key_dir / "master-key.argon2id.json"
    doc = json.loads(path.read_text())
    tamper(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(KeyUnavailableError, match="parameters were modified"):
        passphrase_provider(key_dir, prompt=lambda q: PASSPHRASE).load_master_key()


@pytest.mark.parametrize(
    "content", ['{"format": 1}', "not json", '{"format":1,"kdf":"argon2id","memory_kib":1e12}']
)
def test_corrupt_passphrase_file(key_dir, content) -> None:
    key_dir.mkdir()
    (key_dir / "master-key.argon2id.json").write_text(content)
    with pytest.raises(KeyUnavailableError, match="corrupt"):
        passphrase_provider(key_dir, prompt=lambda q: PASSPHRASE).load_master_key()


def test_hostile_argon2_cost_is_refused_before_deriving(key_dir) -> None:
    provider = passphrase_provider(key_dir, prompt=lambda q: PASSPHRASE)
    provider.load_master_key()
    path = key_dir / "master-key.argon2id.json"
    doc = json.loads(path.read_text())
    doc["memory_kib"] = 64 * 1024 * 1024  # 64 GiB: a denial of service, not a key
    path.write_text(json.dumps(doc))
    with pytest.raises(KeyUnavailableError, match="out-of-range"):
        passphrase_provider(key_dir, prompt=lambda q: PASSPHRASE).load_master_key()


def test_change_passphrase_keeps_the_master_key(key_dir) -> None:
    provider = passphrase_provider(key_dir, prompt=lambda q: PASSPHRASE)
    key = provider.load_master_key()
    provider.change_passphrase("a whole new passphrase")
    assert passphrase_provider(key_dir, prompt=lambda q: "a whole new passphrase").load_master_key() == key
    with pytest.raises(KeyUnavailableError, match="wrong passphrase"):
        passphrase_provider(key_dir, prompt=lambda q: PASSPHRASE).load_master_key()


def test_passphrase_defaults_are_owasp_grade(key_dir) -> None:
    options = PassphraseOptions()
    assert options.memory_kib >= 19456 and options.time_cost >= 2 and options.parallelism == 1
    for weak in ({"memory_kib": 19455}, {"time_cost": 1}, {"parallelism": 0}):
        with pytest.raises(ValidationError):
            PassphraseOptions(**weak)
    provider = PassphraseKeyProvider(options, app_id=APP, key_dir=key_dir, prompt=lambda q: PASSPHRASE)
    provider.load_master_key()
    doc = json.loads((key_dir / options.filename).read_text())
    assert (doc["memory_kib"], doc["time_cost"], doc["parallelism"]) == (65536, 3, 1)
    assert "m=65536 KiB t=3 p=1" in provider.describe().summary


# ------------------------------------------------------------------ insecure_file


def test_insecure_file_is_plaintext_and_says_so(key_dir) -> None:
    provider = InsecureFileKeyProvider(InsecureFileOptions(), app_id=APP, key_dir=key_dir)
    key = provider.load_master_key()
    path = key_dir / "master-key.INSECURE"
    assert base64.b64decode(path.read_text()) == key and provider.load_master_key() == key
    assert os.stat(path).st_mode & 0o777 == 0o600
    description = provider.describe()
    assert description.insecure and "INSECURE" in description.summary


# ------------------------------------------------------------------ through the vault


@pytest.fixture(params=["keyring", "passphrase", "insecure_file"])
def rotatable(request, memory_keyring, key_dir) -> RotatableKeyProvider:
    return {
        "keyring": lambda: KeyringKeyProvider(KeyringOptions(), app_id=APP, key_dir=key_dir),
        "passphrase": lambda: passphrase_provider(key_dir, prompt=lambda q: PASSPHRASE),
        "insecure_file": lambda: InsecureFileKeyProvider(InsecureFileOptions(), app_id=APP, key_dir=key_dir),
    }[request.param]()


def test_rotation_through_a_provider(rotatable: RotatableKeyProvider, key_dir, data_dir) -> None:
    with open_vault(rotatable, key_dir, app_id=APP, data_dir=data_dir, create=True) as vault:
        old = rotatable.load_master_key()
        rotation = rotate_master_key(vault, rotatable)
    new = rotatable.load_master_key()
    assert new != old and rotatable.staged_master_key() is None
    with open_vault(rotatable, key_dir, app_id=APP, data_dir=data_dir) as vault:
        assert vault.master_key_id == rotation.new_key_id


def test_interrupted_rotation_is_completed_on_open(rotatable: RotatableKeyProvider, key_dir, data_dir):
    with open_vault(rotatable, key_dir, app_id=APP, data_dir=data_dir, create=True) as vault:
        staged = rotatable.stage_master_key()
        vault.rotate(staged)  # ... and the process dies before commit_master_key()
    with open_vault(rotatable, key_dir, app_id=APP, data_dir=data_dir) as vault:
        assert rotatable.load_master_key() == staged and rotatable.staged_master_key() is None


def test_staged_but_not_rotated_keeps_the_current_key(rotatable: RotatableKeyProvider, key_dir, data_dir):
    with open_vault(rotatable, key_dir, app_id=APP, data_dir=data_dir, create=True):
        current = rotatable.load_master_key()
        rotatable.stage_master_key()  # the process dies before vault.rotate()
    with open_vault(rotatable, key_dir, app_id=APP, data_dir=data_dir):
        assert rotatable.load_master_key() == current


def test_only_insecure_file_writes_a_plaintext_key(
    rotatable: RotatableKeyProvider, key_dir, data_dir, tree_bytes
) -> None:
    with open_vault(rotatable, key_dir, app_id=APP, data_dir=data_dir, create=True) as vault:
        rotate_master_key(vault, rotatable)
        vault.subject_key("0" * 32)
    key = rotatable.load_master_key()
    found = [p.name for p, content in tree_bytes(key_dir) if any(f in content for f in key_forms(key))]
    expected = ["master-key.INSECURE"] if isinstance(rotatable, InsecureFileKeyProvider) else []
    assert found == expected
