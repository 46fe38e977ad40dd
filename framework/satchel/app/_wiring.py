"""What an App opens and its parts share: key vault, stores, audit log, components, consent gate."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from satchel.app import _sample_cache as sample_cache
from satchel.app._planned_data import PlannedData
from satchel.app.config import AppConfig, PipelineConfig
from satchel.audit.log import AuditLog
from satchel.errors import ConfigError, ConsentError
from satchel.plugin.records import ConsentRequest, Operation
from satchel.plugin.registry import Registry, unknown_choice
from satchel.privacy.consent import ConsentLedger
from satchel.privacy.key_provider import KeyProvider, open_vault
from satchel.privacy.pseudonym import Pseudonymizer
from satchel.privacy.vault import CounterBatch
from satchel.storage.event_store import EventStore, connect
from satchel.storage.sealed_files import SealedFiles

DB_FILE = "satchel.db"
AUDIT_FILE = "audit.jsonl"


class Pseudonym(str):
    """A learner already pseudonymized (from :meth:`App.subjects`); used as is, never re-hashed."""

    __slots__ = ()


class AppWiring:
    """The state every part of :class:`~satchel.app.App` works on, opened from its config."""

    def __init__(
        self,
        config: AppConfig,
        registry: Registry,
        *,
        prompt: Callable[[str], str] | None = None,
        clock: Callable[[], datetime] | None = None,
        new_keys: bool = False,
    ) -> None:
        self.config = config
        self.registry = registry
        #: the app's time source: every default ``now``, checkpoint and audit timestamp reads it, so a
        #: replay of history (``satchel evaluate``) runs on a simulated clock without sleeping
        self.clock: Callable[[], datetime] = clock or _utcnow
        provider: KeyProvider = config.key_provider.create(
            app_id=config.app_id, key_dir=config.key_dir, prompt=prompt
        )
        self.key_provider = provider
        config.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.vault = open_vault(
            provider,
            config.key_dir,
            app_id=config.app_id,
            data_dir=config.data_dir,
            create=True,
            new_keys=new_keys,
        )
        self._db = connect(config.data_dir / DB_FILE)
        self.events = EventStore(self._db, self.vault, config.app_id)
        self.events.on_delete.append(self._drop_sample_caches)  # derived from the deleted events
        self.ledger = ConsentLedger(self._db, self.vault, config.app_id)
        self.audit_log = AuditLog(config.data_dir / AUDIT_FILE, self.vault, clock=self.clock)
        self._pseudonym = Pseudonymizer.from_vault(self.vault)
        self._components: dict[tuple[str, str], Any] = {}
        self._compiled: dict[str, Any] = {}
        self._trainers: OrderedDict[tuple[str, str], tuple[int, Any]] = OrderedDict()  # LRU, see _keep
        self._planned: PlannedData | None = None  # training data counted by samples(), see planned_data

    @property
    def app_id(self) -> str:
        return self.config.app_id

    @property
    def pipelines(self) -> Mapping[str, PipelineConfig]:
        return self.config.pipelines

    def pipeline(self, name: str) -> PipelineConfig:
        """The pipeline called ``name``; an unknown name lists the configured ones."""
        try:
            return self.config.pipelines[name]
        except KeyError:
            raise ConfigError(
                [("pipelines", unknown_choice("pipeline", name, self.config.pipelines))]
            ) from None

    def pseudonym(self, subject: str) -> str:
        """The keyed pseudonym under which ``subject``'s data is stored and audited."""
        return str(subject) if isinstance(subject, Pseudonym) else self._pseudonym(subject)

    def subjects(self) -> tuple[Pseudonym, ...]:
        """Every enrolled learner, as pseudonyms (raw ids are never stored). Any method taking a
        subject accepts these too — this is how background runners address learners."""
        return tuple(Pseudonym(p) for p in self.vault.subjects())

    def component(self, pipeline: str, role: str) -> Any:
        """The live component (``model``, ``featurizer``, ``backend``, ``scheduler``, ``store``) of a pipeline."""
        key = (pipeline, role)
        if key not in self._components:
            self._components[key] = getattr(self.pipeline(pipeline), role).create()
        return self._components[key]

    def close(self) -> None:
        self._db.close()
        self.vault.close()

    # ------------------------------------------------------------------ consent gate

    def _verdict(
        self, pseudo: str, pipeline: PipelineConfig, operation: Operation, at: datetime
    ) -> tuple[bool, str, str]:
        request = ConsentRequest(
            app_id=self.app_id,
            subject=pseudo,
            purposes=pipeline.purposes,
            operation=operation,
            at=at,
            pipeline=pipeline.name,
            history=self.ledger.history(pseudo),
            age_of_digital_consent=self.config.age_of_digital_consent,
            school_purposes=self.config.school_consent_purposes,
        )
        verdicts = self.registry.consent_verdicts(request)
        denied = [v for v in verdicts if not v.allow]
        if verdicts and not denied:
            return True, "", ""
        if denied:
            return False, denied[0].reason, denied[0].source
        return False, "no consent plugin answered, and no answer means deny", ""

    def _gate(self, pseudo: str, pipeline: PipelineConfig, operation: Operation, at: datetime) -> None:
        """Raise ConsentError (and audit the refusal) unless every consent plugin allows."""
        ok, reason, source = self._verdict(pseudo, pipeline, operation, at)
        if ok:
            return
        self.audit_log.append(
            "consent.refused", subject=pseudo, operation=operation, pipeline=pipeline.name, source=source
        )
        raise ConsentError(
            f"{operation} refused for pipeline '{pipeline.name}': {reason}",
            hint="record an opt-in consent for its purposes "
            f"({', '.join(pipeline.purposes)}) with app.consent.grant(...) first",
            missing=tuple(pipeline.purposes),
        )

    def _drop_sample_caches(self, pseudo: str, pipelines: Iterable[str] | None = None) -> None:
        """Delete the learner's sample caches (of ``pipelines``, default all): after a deletion of
        their events (erasure, purge, retention), or a withdrawal of the pipelines' consent."""
        for name in self.pipelines if pipelines is None else pipelines:
            sample_cache.drop(self._files(pseudo, name))

    def _files(self, pseudo: str, pipeline: str, batch: CounterBatch | None = None) -> SealedFiles:
        return SealedFiles(
            self.config.data_dir / "checkpoints" / pseudo / pipeline,
            self.vault,
            self.app_id,
            pseudo,
            pipeline,
            batch=batch,
        )


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)
