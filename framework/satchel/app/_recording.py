"""Recording a learner's events: validated against their types, behind the consent gate, and retention."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from satchel.app._wiring import AppWiring
from satchel.app.config import PipelineConfig
from satchel.errors import ConsentError, EventError
from satchel.events import Event
from satchel.events.ingest import parse_event, read_file
from satchel.plugin.registry import unknown_choice
from satchel.privacy.vault import CounterBatch


@dataclass(frozen=True)
class RecordResult:
    """How many events a ``record``/``ingest`` call stored, and how many were already there."""

    stored: int
    duplicates: int


class EventRecording(AppWiring):
    """The App's events part: ``validate_event``, ``record``, ``ingest`` and ``enforce_retention``."""

    def validate_event(self, event: Event | Mapping[str, Any], where: str = "event") -> Event:
        """Check an event against its registered type; returns it with its payload normalised."""
        ev = event if isinstance(event, Event) else parse_event(event, where)
        found = self.registry.all("event_type").get(ev.type)
        if found is None:
            raise EventError(
                f"{where}: {unknown_choice('event type', ev.type, self.registry.all('event_type'))}"
            )
        try:
            payload = found.spec.payload.model_validate(ev.data)
        except ValidationError as e:
            err = e.errors()[0]
            raise EventError(
                f"{where}: field 'data.{'.'.join(map(str, err['loc']))}': {err['msg']}",
                hint=f"see the payload of event type '{ev.type}' in `satchel config schema`",
            ) from None
        data = payload.model_dump(mode="json")
        if data == ev.data and all(type(v) is type(ev.data[k]) for k, v in data.items()):
            return ev  # the common case: the payload model changed nothing
        # validated again: a payload model may turn text into a number (e.g. "nan" into NaN)
        return parse_event(
            {**ev.model_dump(), "data": data},
            where,
            hint=f"see the payload of event type '{ev.type}' in `satchel config schema`",
        )

    def record(
        self,
        subject: str,
        events: Event | Mapping[str, Any] | Sequence[Event | Mapping[str, Any]],
        *,
        at: datetime | None = None,
    ) -> RecordResult:
        """Store a learner's events, all or none, if consent covers a pipeline that reads each type."""
        batch = [events] if isinstance(events, (Event, Mapping)) else list(events)
        checked = [self.validate_event(e, f"event {i}") for i, e in enumerate(batch)]
        return self._store({subject: checked}, at or self.clock(), source="api")

    def _store(self, by_subject: Mapping[str, list[Event]], at: datetime, source: str) -> RecordResult:
        pseudos = {s: self.pseudonym(s) for s in by_subject}
        for subject, events in by_subject.items():
            for event_type in sorted({e.type for e in events}):
                readers = self._readers(event_type)
                if not readers:
                    raise EventError(
                        f"no pipeline reads event type '{event_type}', so it is not collected",
                        hint="collect only what a configured pipeline uses (data minimisation)",
                    )
                errors: list[ConsentError] = []
                for p in readers:
                    try:
                        self._gate(pseudos[subject], p, "record", at)
                        break
                    except ConsentError as e:
                        errors.append(e)
                else:
                    raise errors[0]
        added = self.events.add((pseudos[s], evs) for s, evs in by_subject.items())
        total = sum(len(v) for v in by_subject.values())
        stored = sum(added.values())
        batch = CounterBatch()  # one durable commit for the whole file's audit entries
        for s, evs in by_subject.items():
            self.audit_log.stage(
                batch,
                "events.recorded",
                subject=pseudos[s],
                count=added.get(pseudos[s], 0),
                duplicates=len(evs) - added.get(pseudos[s], 0),
                source=source,
            )
        self.vault.commit(batch)
        return RecordResult(stored, total - stored)

    def ingest(
        self,
        path: str | Path,
        *,
        source: str | None = None,
        subject: str | None = None,
        options: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> RecordResult:
        """Import a file all-or-nothing: JSONL/CSV in satchel's format, or any registered event source
        (``options`` configure it, e.g. ``{"map": {"student_answer": "Antwort"}}`` for a gradebook).

        A bad line is reported with its line number and field; nothing from the file is stored.
        """
        sourced = read_file(Path(path), self.registry, source=source, subject=subject, options=options)
        name = Path(path).name
        by_subject: dict[str, list[Event]] = {}
        for item in sourced:
            ev = self.validate_event(item.event, f"{name} line {item.line}")
            by_subject.setdefault(item.subject, []).append(ev)
        if not by_subject:
            raise EventError(f"{path}: no events found", hint="check the file's format and --source")
        return self._store(by_subject, at or self.clock(), source=source or Path(path).suffix[1:])

    def enforce_retention(self, *, now: datetime | None = None) -> int:
        """Delete events older than ``privacy.retention_days``; returns how many were deleted."""
        days = self.config.retention_days
        if days is None:
            return 0
        cutoff = (now or self.clock()) - timedelta(days=days)
        deleted = 0
        for pseudo in self.events.subjects():
            old = [e.id for e in self.events.read(pseudo) if e.time < cutoff]
            if old:
                deleted += self.events.delete_ids(pseudo, old)
        if deleted:
            self.audit_log.append("retention.enforced", deleted=deleted, retention_days=days)
        return deleted

    def _readers(self, event_type: str) -> list[PipelineConfig]:
        return [p for p in self.pipelines.values() if event_type in p.featurizer.spec.reads]
