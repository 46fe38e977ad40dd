"""The plugin registry: a typed facade over pluggy.

Core code never calls ``pm.hook`` directly. The registry loads plugins lazily (once), collects
each registration hook's records plugin by plugin when that kind is first asked for, validates
them at one choke point, and remembers which distribution contributed each record so a
conflict or a failed lookup can say exactly what is installed. Plugin modules should be cheap to
import: heavy code belongs in the hook functions or the components' own modules.

Environment switches:

``SATCHEL_PLUGINS``          comma-separated entry-point names: load only these
``SATCHEL_DISABLE_PLUGINS``  comma-separated entry-point names: never load these
``SATCHEL_TRACE``            ``1`` logs every hook call (logger ``satchel.hooks``)
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import pluggy

from satchel.errors import PluginError
from satchel.plugin import hookspecs
from satchel.plugin.records import (
    DATA_CATEGORIES,
    BackendSpec,
    CliCommandSpec,
    ComponentSpec,
    ConsentRequest,
    ConsentVerdict,
    DeviceState,
    EventSourceSpec,
    EventTypeSpec,
    FeaturizerSpec,
    KeyProviderSpec,
    ModelTaskSpec,
    SchedulerSpec,
    StoreSpec,
    TrainingContext,
    TrainingReport,
)

if TYPE_CHECKING:
    from satchel.model.backend import TrainingProgress

ENTRY_POINT_GROUP = "satchel"
log = logging.getLogger("satchel.plugin.registry")
trace_log = logging.getLogger("satchel.hooks")

S = TypeVar("S")

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True)
class HookKind:
    """One registration hook: its name, the record type it yields, and a human label."""

    hook: str
    record: type[Any]  # a record class; its ``kind`` ClassVar names the kind
    label: str


#: Every registration hook, in the order ``satchel plugins`` shows them.
HOOK_KINDS: tuple[HookKind, ...] = (
    HookKind("satchel_event_types", EventTypeSpec, "event type"),
    HookKind("satchel_event_sources", EventSourceSpec, "event source"),
    HookKind("satchel_featurizers", FeaturizerSpec, "featurizer"),
    HookKind("satchel_models", ModelTaskSpec, "model"),
    HookKind("satchel_trainer_backends", BackendSpec, "backend"),
    HookKind("satchel_schedulers", SchedulerSpec, "scheduler"),
    HookKind("satchel_checkpoint_stores", StoreSpec, "checkpoint store"),
    HookKind("satchel_key_providers", KeyProviderSpec, "key provider"),
    HookKind("satchel_cli_commands", CliCommandSpec, "CLI command"),
)
_BY_KIND = {k.record.kind: k for k in HOOK_KINDS}

#: Hooks called at run time (not registration), in the order ``satchel plugins`` shows them.
RUNTIME_HOOKS: tuple[str, ...] = (
    "satchel_consent_verdict",
    "satchel_device_state",
    "satchel_before_training",
    "satchel_after_training",
    "satchel_on_training_error",
    "satchel_training_progress",
)


@dataclass(frozen=True)
class Origin:
    """Where a plugin came from: its registered name, distribution and version."""

    plugin: str
    distribution: str
    version: str

    @property
    def builtin(self) -> bool:
        return self.distribution == "satchel"

    def describe(self) -> str:
        return f"plugin '{self.plugin}' from {self.distribution} {self.version}".rstrip()


@dataclass(frozen=True)
class Registered(Generic[S]):
    """A validated record and the plugin that contributed it."""

    spec: S
    origin: Origin


def _describe(dist: metadata.Distribution | None, seen: dict[int, tuple[str, str]]) -> tuple[str, str]:
    """``(name, version)`` of an entry point's distribution (``Distribution.name`` and ``.version``
    each parse its METADATA file again)."""
    if dist is None:
        return "(unknown)", ""
    if id(dist) not in seen:
        meta = dist.metadata
        seen[id(dist)] = (meta["Name"], meta["Version"])
    return seen[id(dist)]


def _csv_env(env: Mapping[str, str], key: str) -> frozenset[str] | None:
    raw = env.get(key, "").strip()
    return frozenset(p.strip() for p in raw.split(",") if p.strip()) if raw else None


class Registry:
    """All plugins known to one app (or test).

    ``plugins`` are registered explicitly (name → module or object) before entry points;
    ``entry_points=False`` gives an isolated registry, as the test fixtures do.
    """

    def __init__(
        self,
        plugins: Mapping[str, object] | None = None,
        *,
        entry_points: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._env = os.environ if env is None else env
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._explicit = dict(plugins or {})
        self._use_entry_points = entry_points
        self._origins: dict[str, Origin] = {}
        self._records: dict[str, dict[str, Registered[Any]]] = {}  # kind -> name -> record
        self._loaded = False
        self._trace = self._env.get("SATCHEL_TRACE", "") not in ("", "0")
        if self._trace:
            self._pm.trace.root.setwriter(lambda msg: trace_log.info(msg.rstrip()))
            self._pm.enable_tracing()

    # ------------------------------------------------------------------ loading

    def register(
        self, plugin: object, name: str, *, distribution: str = "(local)", version: str = ""
    ) -> None:
        """Register a plugin module or object under ``name`` (before or after loading)."""
        if self._pm.has_plugin(name):
            raise PluginError(
                f"a plugin named '{name}' is already registered",
                hint="choose another name or unregister the first one",
            )
        try:
            self._pm.register(plugin, name)
        except pluggy.PluginValidationError as e:
            raise PluginError(
                f"plugin '{name}' does not match satchel's hooks: {e}",
                hint="check the hook names and arguments against docs/hooks.md",
            ) from e
        self._origins[name] = Origin(name, distribution, version)
        self._records = {}

    def register_local(self, entries: Sequence[str], base: Path, where: str) -> None:
        """Register uninstalled plugins: module names or ``.py`` paths (relative to ``base``), as
        listed in a config's ``[app] plugins``. Registering the same module again is a no-op."""
        from satchel.plugin.local import import_entry

        for entry in entries:
            self._register_once(*import_entry(entry, base, where))

    def register_directory(self, directory: Path) -> None:
        """Register every ``*.py`` file in ``directory`` (``satchel --plugins-dir``)."""
        from satchel.plugin.local import directory_files, import_file

        for path in directory_files(directory):
            self._register_once(*import_file(path.resolve(), f"--plugins-dir {directory}"))

    def _register_once(self, name: str, module: object) -> None:
        if self._pm.get_plugin(name) is module:
            return
        self.register(module, name, distribution="(local)")

    def unregister(self, name: str) -> None:
        self._pm.unregister(name=name)
        self._origins.pop(name, None)
        self._records = {}

    def load(self) -> Registry:
        """Load explicit plugins, then entry points (once). Idempotent."""
        if self._loaded:
            return self
        self._loaded = True
        only = _csv_env(self._env, "SATCHEL_PLUGINS")
        disabled = _csv_env(self._env, "SATCHEL_DISABLE_PLUGINS") or frozenset()
        for name, plugin in self._explicit.items():
            if name not in disabled and (only is None or name in only):
                self.register(plugin, name)
        if self._use_entry_points:
            described: dict[
                int, tuple[str, str]
            ] = {}  # one METADATA parse per distribution, not two per plugin
            for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
                if ep.name in disabled or (only is not None and ep.name not in only):
                    log.debug("plugin %s skipped by environment", ep.name)
                    continue
                dist, version = _describe(ep.dist, described)
                try:
                    plugin = ep.load()
                except Exception as e:  # a broken third-party plugin must be named, not crash opaquely
                    raise PluginError(
                        f"plugin '{ep.name}' from {dist} {version} failed to import: {type(e).__name__}: {e}",
                        hint=f"fix or uninstall {dist}, or set SATCHEL_DISABLE_PLUGINS={ep.name}",
                    ) from e
                if self._pm.has_plugin(ep.name):
                    other = self._origins[ep.name]
                    raise PluginError(
                        f"two plugins are named '{ep.name}': {other.describe()} and one from {dist} {version}",
                        hint=f"uninstall one of them or set SATCHEL_DISABLE_PLUGINS={ep.name}",
                    )
                self.register(plugin, ep.name, distribution=dist, version=version)
        return self

    def check_pending(self) -> None:
        """Fail if a registered plugin implements a hook satchel does not define (e.g. a typo)."""
        self.load()
        try:
            self._pm.check_pending()
        except pluggy.PluginValidationError as e:
            raise PluginError(str(e), hint="rename the function to one of the hooks in docs/hooks.md") from e

    # ------------------------------------------------------------------ records

    def _collect(self, kind: str) -> dict[str, Registered[Any]]:
        """Call one registration hook on every plugin (once) and validate what it yields.

        Kinds are collected independently, on first use: ``satchel --help`` asks only for CLI
        commands, so it never imports the plugins' models, featurizers or backends.
        """
        if kind in self._records:
            return self._records[kind]
        hook_kind = self._kind(kind)
        self.load()
        bucket: dict[str, Registered[Any]] = {}
        caller = getattr(self._pm.hook, hook_kind.hook)
        for impl in caller.get_hookimpls():
            origin = self._origins.get(impl.plugin_name, Origin(impl.plugin_name, "(unknown)", ""))
            try:
                produced = impl.function()
                items = list(produced or ())
            except Exception as e:
                hint = (
                    f"install what it needs, fix or uninstall {origin.distribution}, or set "
                    f"SATCHEL_DISABLE_PLUGINS={origin.plugin}"
                    if isinstance(e, ImportError)  # hooks import
                    else "this is a bug in that plugin; report it to its authors"
                )  # their components
                raise PluginError(
                    f"{origin.describe()} failed in {hook_kind.hook}: {type(e).__name__}: {e}", hint=hint
                ) from e
            if self._trace:
                trace_log.info(
                    "%s [%s] -> %s",
                    hook_kind.hook,
                    impl.plugin_name,
                    ", ".join(getattr(i, "name", "?") for i in items) or "nothing",
                )
            for item in items:
                self._validate(hook_kind, item, origin)
                if item.name in bucket:
                    first = bucket[item.name].origin
                    raise PluginError(
                        f"{hook_kind.label} '{item.name}' is registered twice: by {first.describe()} "
                        f"and by {origin.describe()}",
                        hint=f"uninstall one, or disable it with SATCHEL_DISABLE_PLUGINS={origin.plugin}",
                    )
                bucket[item.name] = Registered(item, origin)
        self._records[kind] = bucket
        return bucket

    @staticmethod
    def _kind(kind: str) -> HookKind:
        if kind not in _BY_KIND:
            raise PluginError(f"unknown plugin kind '{kind}'", hint=f"choose one of: {', '.join(_BY_KIND)}")
        return _BY_KIND[kind]

    @staticmethod
    def _validate(kind: HookKind, item: object, origin: Origin) -> None:
        where = f"{origin.describe()} ({kind.hook})"
        if not isinstance(item, kind.record):
            raise PluginError(
                f"{where} yielded {type(item).__name__}, expected {kind.record.__name__}",
                hint=f"yield satchel.plugin.records.{kind.record.__name__} instances",
            )
        name = getattr(item, "name", "")
        if not isinstance(name, str) or not _NAME.match(name):
            raise PluginError(
                f"{where} registered a {kind.label} with invalid name {name!r}",
                hint="names are lowercase letters, digits and underscores, starting with a letter",
            )
        if isinstance(item, ComponentSpec):
            from pydantic import BaseModel  # components only: listing CLI commands needs no pydantic

            if not callable(item.factory):
                raise PluginError(f"{where}: {kind.label} '{name}' has a factory that is not callable")
            opts = item.options
            if not (isinstance(opts, type) and issubclass(opts, BaseModel)):
                raise PluginError(f"{where}: {kind.label} '{name}' options must be a pydantic model class")
            if opts.model_config.get("extra") != "forbid":
                raise PluginError(
                    f"{where}: {kind.label} '{name}' options model must forbid extra fields",
                    hint='set model_config = ConfigDict(extra="forbid")',
                )
        if isinstance(item, EventTypeSpec):
            unknown = [c for c in item.categories if c not in DATA_CATEGORIES]
            if not item.categories or unknown:
                raise PluginError(
                    f"{where}: event type '{name}' needs data categories from "
                    f"{', '.join(DATA_CATEGORIES)}; got {list(item.categories)}"
                )
        if isinstance(item, CliCommandSpec) and not hasattr(item.command, "main"):
            raise PluginError(f"{where}: CLI command '{name}' is not a click command")

    def all(self, kind: str) -> Mapping[str, Registered[Any]]:
        """Every registered record of ``kind`` (``"backend"``, ``"model"``, ...) by name."""
        return dict(self._collect(kind))

    def get(self, kind: str, name: str) -> Any:
        """The record named ``name``; a failed lookup lists the choices (and a close match)."""
        found = self._collect(kind)
        if name in found:
            return found[name].spec
        raise PluginError(unknown_choice(_BY_KIND[kind].label, name, found))

    def origin(self, kind: str, name: str) -> Origin:
        return self._collect(kind)[name].origin

    def event_type(self, name: str) -> EventTypeSpec:
        return self.get("event_type", name)

    def plugins(self) -> tuple[Origin, ...]:
        """Every loaded plugin, in registration order."""
        self.load()
        return tuple(self._origins[n] for n, _ in self._pm.list_name_plugin() if n in self._origins)

    def implementations(self, hook: str) -> tuple[Origin, ...]:
        """The plugins implementing hook ``hook`` (any hook, registration or runtime)."""
        self.load()
        impls = getattr(self._pm.hook, hook).get_hookimpls()
        return tuple(self._origins.get(i.plugin_name, Origin(i.plugin_name, "(unknown)", "")) for i in impls)

    # ------------------------------------------------------------------ runtime hooks

    def consent_verdicts(self, request: ConsentRequest) -> list[ConsentVerdict]:
        self.load()
        return [v for v in self._pm.hook.satchel_consent_verdict(request=request) if v is not None]

    def device_state(self) -> DeviceState | None:
        self.load()
        return self._pm.hook.satchel_device_state()

    def before_training(self, context: TrainingContext) -> None:
        self._pm.hook.satchel_before_training(context=context)

    def after_training(self, report: TrainingReport) -> None:
        self._pm.hook.satchel_after_training(report=report)

    def on_training_error(self, context: TrainingContext, error: BaseException) -> None:
        self._pm.hook.satchel_on_training_error(context=context, error=error)

    def progress_callback(self) -> Callable[[TrainingProgress], None] | None:
        """A callback for trainers, or ``None`` when nobody listens (so training pays nothing)."""
        self.load()
        caller = self._pm.hook.satchel_training_progress
        if not caller.get_hookimpls():
            return None
        return lambda progress: caller(progress=progress)


def unknown_choice(label: str, name: str, choices: Iterable[str]) -> str:
    """``unknown backend 'tflit'; choose one of: litert, onnx (did you mean 'litert'?)``."""
    options: Sequence[str] = sorted(choices)
    if not options:
        return f"unknown {label} '{name}'; no {label} is installed"
    close = difflib.get_close_matches(name, options, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown {label} '{name}'; choose one of: {', '.join(options)}{hint}"
