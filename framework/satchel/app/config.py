"""Per-app pipeline configuration (TOML), validated against the installed plugins.

Every problem is collected (not just the first) and reported with its full dotted path and a
hint, e.g. ``pipelines.habit.backend: unknown backend 'tflit'; choose one of: litert, onnx``.
A component is written as a name or as a table with options::

    backend = "litert"
    scheduler = { name = "conditions", options = { require_charging = true } }
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from satchel.errors import ConfigError
from satchel.plugin.records import ComponentSpec, ModelTaskSpec
from satchel.plugin.registry import Registry, unknown_choice
from satchel.privacy.vault import default_key_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_ID = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ComponentRef(_Strict):
    """A component by name, with options for its own options model."""

    name: str = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)


def _ref(value: object) -> object:
    return {"name": value} if isinstance(value, str) else value


class AppSection(_Strict):
    id: str = Field(pattern=_ID, description="stable app identifier (lowercase, digits, . _ -)")
    name: str = ""
    data_dir: Path | None = Field(None, description="defaults to the platform's user data dir / <id>")
    key_dir: Path | None = Field(
        None,
        description="wrapped keys, kept apart from data; defaults to the "
        "platform's user config dir / satchel-keys / <id>",
    )
    plugins: list[str] = Field(
        default_factory=list,
        description="uninstalled plugins to load: module names or .py paths relative to this file",
    )


class PrivacySection(_Strict):
    key_provider: ComponentRef = ComponentRef(name="keyring")
    age_of_digital_consent: int = Field(13, ge=0, le=21)
    retention_days: int = Field(
        365,
        ge=0,
        description="events older than this are deleted; 0 keeps them without limit (reported by the audit)",
    )
    purge_on_withdrawal: bool = True
    school_consent_purposes: list[str] = Field(
        default_factory=list, description="educational purposes a school may consent to for parents"
    )

    _refs = field_validator("key_provider", mode="before")(lambda v: _ref(v))


class FederatedSection(_Strict):
    """``[pipelines.X.federated]``: a shared model trained across learners on Flower, with DP.

    Give ``noise_multiplier`` or ``target_epsilon`` (the noise is then calibrated by the RDP
    accountant for ``rounds`` rounds at sampling rate ``clients_per_round / population``).
    ``noise_multiplier = 0`` turns DP off (the audit reports it).
    """

    purpose: str = Field(
        "model_improvement", pattern=_ID, description="the consented purpose of contributing"
    )
    rounds: int = Field(10, ge=1, le=100_000)
    clients_per_round: int = Field(10, ge=1)
    population: int | None = Field(
        None,
        ge=1,
        description="learners eligible per round; without it the "
        "accountant assumes every learner takes part in every round (no amplification)",
    )
    local_epochs: int = Field(1, ge=1, le=1000)
    clip_norm: float = Field(
        0.02,
        gt=0,
        description="L2 bound on each learner's update (weights delta); "
        "clip near the deltas' median norm (measured for the habit net)",
    )
    noise_multiplier: float | None = Field(None, ge=0)
    target_epsilon: float | None = Field(None, gt=0)
    delta: float = Field(1e-5, gt=0, lt=1)
    epsilon_cap: float = Field(10.0, gt=0, description="a learner never spends more epsilon than this")
    secure_aggregation: bool = True
    strategy: str = Field(
        "fedadam",
        pattern="^(fedavg|fedadam)$",
        description="fedadam: devices run SGD, the server Adam (measured best); fedavg: plain mean",
    )
    server_learning_rate: float = Field(0.03, gt=0)
    trust_sampling: bool = Field(
        True,
        description="account the server's uniform client sampling "
        "(amplification); false charges every participation in full",
    )
    standardize: bool = Field(
        True,
        description="estimate the features' means and spreads in DP rounds first, train on "
        "standardised inputs and fold the standardisation into the first layer (see docs/federated.md)",
    )
    standardize_rounds: int = Field(1, ge=1, le=1000, description="rounds per standardisation stage")
    standardize_clip: float | None = Field(
        None, gt=0, description="L2 clip of a device's statistics (default 0.5 * sqrt(features))"
    )

    @field_validator("target_epsilon")
    @classmethod
    def _one_of(cls, v: float | None, info: Any) -> float | None:
        if v is not None and info.data.get("noise_multiplier") is not None:
            raise ValueError("give noise_multiplier or target_epsilon, not both")
        return v


class PipelineSection(_Strict):
    model: ComponentRef
    purposes: list[str] = Field(min_length=1)
    featurizer: ComponentRef | None = None
    backend: ComponentRef = ComponentRef(name="litert")
    scheduler: ComponentRef = ComponentRef(name="conditions")
    store: ComponentRef = ComponentRef(name="encrypted_checkpoints")
    epochs: int = Field(20, ge=1, le=10_000)
    warm_start: bool = Field(
        False,
        description="continue from the model in service (true) or refit "
        "from the task's base weights at every training (false)",
    )
    description: str = ""
    federated: FederatedSection | None = None

    _refs = field_validator("model", "featurizer", "backend", "scheduler", "store", mode="before")(
        lambda v: _ref(v)
    )


class ConfigFile(_Strict):
    """The TOML file's structure (component options are checked against the plugins afterwards)."""

    app: AppSection
    privacy: PrivacySection = PrivacySection()
    pipelines: dict[str, PipelineSection] = Field(min_length=1)


# ------------------------------------------------------------------ resolved configuration


@dataclass(frozen=True)
class Component:
    """A resolved component: its registered record and validated options."""

    kind: str
    name: str
    spec: Any
    options: BaseModel

    def create(self, **context: Any) -> Any:
        return self.spec.create(self.options, **context)


@dataclass(frozen=True)
class PipelineConfig:
    name: str
    model: Component
    featurizer: Component
    backend: Component
    scheduler: Component
    store: Component
    purposes: tuple[str, ...]
    epochs: int
    description: str
    warm_start: bool = False
    federated: FederatedSection | None = None


@dataclass(frozen=True)
class AppConfig:
    app_id: str
    name: str
    data_dir: Path
    key_dir: Path
    key_provider: Component
    age_of_digital_consent: int
    retention_days: int | None
    purge_on_withdrawal: bool
    school_consent_purposes: tuple[str, ...]
    pipelines: Mapping[str, PipelineConfig]
    source: str


_COMPONENT_KINDS = {
    "model": "model",
    "featurizer": "featurizer",
    "backend": "backend",
    "scheduler": "scheduler",
    "store": "checkpoint_store",
}


def load_config(source: str | Path | Mapping[str, Any], registry: Registry) -> AppConfig:
    """Parse and validate a config file path, TOML text, or mapping. Raises :class:`ConfigError`."""
    raw, where, base = _read(source)
    try:
        parsed = ConfigFile.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(
            [(_dotted(err["loc"]), _message(err)) for err in e.errors()], source=where
        ) from None
    if parsed.app.plugins:
        registry.register_local(parsed.app.plugins, base, f"{where}: app.plugins")
    problems: list[tuple[str, str]] = []
    key_provider = _resolve(
        registry, "key_provider", parsed.privacy.key_provider, "privacy.key_provider", problems
    )
    pipelines: dict[str, PipelineConfig] = {}
    for pname, p in parsed.pipelines.items():
        prefix = f"pipelines.{pname}"
        if not _is_id(pname):
            problems.append((prefix, "pipeline names are lowercase letters, digits and underscores"))
        comps = {
            field: _resolve(registry, kind, getattr(p, field), f"{prefix}.{field}", problems)
            for field, kind in _COMPONENT_KINDS.items()
            if field != "featurizer"
        }
        found = registry.all("model").get(p.model.name)
        task: ModelTaskSpec | None = found.spec if found else None
        featurizer_ref = p.featurizer or (ComponentRef(name=task.featurizer) if task else None)
        featurizer = (
            _resolve(registry, "featurizer", featurizer_ref, f"{prefix}.featurizer", problems)
            if featurizer_ref is not None
            else None
        )
        if task is not None:
            extra = [x for x in p.purposes if x not in task.purposes]
            if extra:
                problems.append(
                    (
                        f"{prefix}.purposes",
                        f"model '{task.name}' does not serve {extra}; "
                        f"it declares: {', '.join(task.purposes) or 'none'}",
                    )
                )
        if None not in comps.values() and featurizer is not None:
            pipelines[pname] = PipelineConfig(
                name=pname,
                featurizer=featurizer,
                purposes=tuple(p.purposes),
                epochs=p.epochs,
                description=p.description,
                warm_start=p.warm_start,
                federated=p.federated,
                **comps,  # type: ignore[arg-type]
            )
    if problems:
        raise ConfigError(problems, source=where)
    assert key_provider is not None
    app_id = parsed.app.id
    return AppConfig(
        app_id=app_id,
        name=parsed.app.name or app_id,
        data_dir=_path(parsed.app.data_dir, base) or Path(platformdirs.user_data_dir("satchel")) / app_id,
        key_dir=_path(parsed.app.key_dir, base) or default_key_dir(app_id),
        key_provider=key_provider,
        age_of_digital_consent=parsed.privacy.age_of_digital_consent,
        retention_days=parsed.privacy.retention_days or None,
        purge_on_withdrawal=parsed.privacy.purge_on_withdrawal,
        school_consent_purposes=tuple(parsed.privacy.school_consent_purposes),
        pipelines=pipelines,
        source=where,
    )


def _read(source: str | Path | Mapping[str, Any]) -> tuple[Mapping[str, Any], str, Path]:
    if isinstance(source, Mapping):
        return source, "<mapping>", Path.cwd()
    if isinstance(source, Path) or (
        isinstance(source, str) and "\n" not in source and source.endswith(".toml")
    ):
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(
                [("", f"no such file: {path}; create one with `satchel init {path}`")]
            ) from None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError([("", f"cannot read {path}: {e}")]) from None
        where, base = str(path), path.resolve().parent
    else:
        text, where, base = str(source), "<string>", Path.cwd()
    try:
        return tomllib.loads(text), where, base
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([("", f"not valid TOML: {e}")], source=where) from None


def _resolve(
    registry: Registry, kind: str, ref: ComponentRef, path: str, problems: list[tuple[str, str]]
) -> Component | None:
    found = registry.all(kind)
    if ref.name not in found:
        label = {"checkpoint_store": "checkpoint store", "key_provider": "key provider"}.get(kind, kind)
        problems.append((path, unknown_choice(label, ref.name, found)))
        return None
    spec: ComponentSpec = found[ref.name].spec
    try:
        options = spec.options.model_validate(ref.options)
    except ValidationError as e:
        problems.extend(
            (f"{path}.options.{_dotted(err['loc'])}".rstrip("."), _message(err)) for err in e.errors()
        )
        return None
    return Component(kind, ref.name, spec, options)


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _message(err: Mapping[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return "unknown setting; remove it or check its spelling against `satchel config schema`"
    if kind == "missing":
        return "required setting is missing"
    return str(err.get("msg", "invalid value"))


def _is_id(name: str) -> bool:
    return name.replace("_", "a").isalnum() and name[:1].isalpha() and name == name.lower()


def _path(p: Path | None, base: Path) -> Path | None:
    if p is None:
        return None
    p = p.expanduser()
    return p if p.is_absolute() else (base / p).resolve()


def config_schema(registry: Registry) -> dict[str, Any]:
    """JSON Schema of the config file for editors, with each component's choices and options."""
    schema = ConfigFile.model_json_schema()
    defs = schema.setdefault("$defs", {})
    pipeline = defs["PipelineSection"]["properties"]
    for field, kind in (*_COMPONENT_KINDS.items(), ("key_provider", "key_provider")):
        variants: list[dict[str, Any]] = []
        names = sorted(registry.all(kind))
        for name in names:
            spec: ComponentSpec = registry.get(kind, name)
            variants.append(
                {
                    "type": "object",
                    "description": spec.description,
                    "properties": {"name": {"const": name}, "options": spec.options.model_json_schema()},
                    "required": ["name"],
                    "additionalProperties": False,
                }
            )
        choice = {"anyOf": [{"type": "string", "enum": names}, *variants]}
        if field == "key_provider":
            defs["PrivacySection"]["properties"]["key_provider"] = choice
        else:
            pipeline[field] = choice
    return schema


STARTER_CONFIG = """\
# satchel pipeline configuration. Validate with `satchel validate satchel.toml`;
# `satchel config schema` prints a JSON Schema your editor can use.

[app]
id = "my-learning-app"            # stable identifier: lowercase letters, digits, . _ -
# data_dir = "satchel-data"       # default: the platform's user data directory / <id>
# key_dir = "satchel-keys"        # wrapped keys live apart from data; default: user config dir / satchel-keys / <id>

[privacy]
# Where the master key lives: "keyring" (the OS keyring), "passphrase", or "env" (servers and CI).
key_provider = "keyring"
age_of_digital_consent = 13       # below this age a guardian's consent is required
retention_days = 365              # events older than this are deleted (0: no limit, audited)
purge_on_withdrawal = true        # withdrawing consent deletes that purpose's events and models

# One table per pipeline: a model, the purposes it serves, and how and when it trains.
[pipelines.habits]
model = "habit"
purposes = ["habit_reminders"]
backend = "litert"                # or "onnx"
# Train at most weekly, while charging, once 7 new training samples exist (a habit sample is one
# habit on one day, so 7 is a day of 7 habits or a week of one). On a real Loop export replayed
# with `satchel evaluate`, weekly refits scored as well as daily ones (log loss 0.509 vs 0.511)
# for a seventh of the trainings.
scheduler = { name = "conditions", options = { require_charging = true, min_new_samples = 7, min_interval = "7d" } }
epochs = 30
"""
