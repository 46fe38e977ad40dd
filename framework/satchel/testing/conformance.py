"""Conformance suites a plugin runs against its own components.

Subclass a suite in your test module and provide the fixtures it names::

    from satchel.testing.conformance import PluginConformance, SchedulerConformance

    class TestMyPlugin(PluginConformance):
        @pytest.fixture
        def plugin(self):
            import my_satchel_plugin
            return my_satchel_plugin

    class TestMyScheduler(SchedulerConformance):
        @pytest.fixture
        def scheduler(self):
            return MyScheduler(MyOptions())

A featurizer implementing the optional fold protocol also runs :class:`FoldConformance`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from satchel.events import Event
from satchel.model.backend import TrainerBackend
from satchel.model.dataset import Dataset
from satchel.model.task import EventSource, Featurizer, ModelTask, folds
from satchel.plugin.records import ComponentSpec, DeviceState
from satchel.plugin.registry import HOOK_KINDS
from satchel.testing import isolated_registry
from satchel.training.scheduling import ScheduleDecision, ScheduleInput, Scheduler

_PROTOCOLS: dict[str, type] = {
    "scheduler": Scheduler,
    "backend": TrainerBackend,
    "featurizer": Featurizer,
    "model": ModelTask,
    "event_source": EventSource,
}


class PluginConformance:
    """Checks a plugin module's registrations. Needs fixture ``plugin`` (module or object)."""

    def test_registers_something(self, plugin: object) -> None:
        reg = isolated_registry({"plugin_under_test": plugin}, builtins=False)
        total = sum(len(reg.all(k.record.kind)) for k in HOOK_KINDS)
        implemented = [h for h in dir(plugin) if h.startswith("satchel_")]
        assert total > 0 or implemented, "the plugin registers nothing and implements no hook"

    def test_hooks_are_known(self, plugin: object) -> None:
        isolated_registry({"plugin_under_test": plugin}, builtins=False).check_pending()

    def test_records_validate_alongside_builtins(self, plugin: object) -> None:
        reg = isolated_registry({"plugin_under_test": plugin})
        for kind in HOOK_KINDS:
            reg.all(kind.record.kind)  # raises PluginError on conflicts

    def test_components_implement_their_protocol(self, plugin: object) -> None:
        reg = isolated_registry({"plugin_under_test": plugin}, builtins=False)
        for kind, protocol in _PROTOCOLS.items():
            for name, found in reg.all(kind).items():
                component = found.spec.create()
                assert isinstance(component, protocol), (
                    f"{kind} '{name}' does not implement {protocol.__name__}"
                )

    def test_options_reject_unknown_fields(self, plugin: object) -> None:
        reg = isolated_registry({"plugin_under_test": plugin}, builtins=False)
        for kind in HOOK_KINDS:
            for found in reg.all(kind.record.kind).values():
                if isinstance(found.spec, ComponentSpec):
                    with pytest.raises(ValidationError):
                        found.spec.options.model_validate({"__surely_not_an_option__": 1})


class SchedulerConformance:
    """Checks a scheduler. Needs fixture ``scheduler``."""

    NOW = datetime(2026, 3, 2, 14, 0, tzinfo=timezone.utc)
    GOOD = DeviceState(battery_percent=90, charging=True, idle=True, unmetered_network=True, source="test")

    def facts(self, **kw: object) -> ScheduleInput:
        base = dict(
            now=self.NOW, device=self.GOOD, last_trained_at=None, new_samples=1000, total_samples=1000
        )
        base.update(kw)
        return ScheduleInput(**base)  # type: ignore[arg-type]

    def test_returns_a_decision(self, scheduler: Scheduler) -> None:
        assert isinstance(scheduler.decide(self.facts()), ScheduleDecision)

    def test_not_now_always_has_a_reason(self, scheduler: Scheduler) -> None:
        cases = [
            self.facts(new_samples=0),
            self.facts(device=DeviceState()),
            self.facts(last_trained_at=self.NOW - timedelta(seconds=1)),
        ]
        for facts in cases:
            d = scheduler.decide(facts)
            assert d.run or d.reasons, f"declined without a reason for {facts}"

    def test_is_deterministic(self, scheduler: Scheduler) -> None:
        assert scheduler.decide(self.facts()) == scheduler.decide(self.facts())


class FoldConformance:
    """Checks a featurizer's fold protocol (:class:`satchel.model.task.FoldingFeaturizer`) on random
    splits and orders of a sample event set. Needs fixtures ``featurizer``, ``fold_events`` (a
    learner's events, a few hundred or more) and ``fold_now`` (a time after the newest of them)."""

    SPLITS = 6

    def splits(self, events: Sequence[Event], seed: int) -> list[list[Event]]:
        """``events`` shuffled and cut at random points into up to five parts (some may be empty)."""
        rng = random.Random(seed)
        shuffled = list(events)
        rng.shuffle(shuffled)
        cuts = sorted(rng.randint(0, len(shuffled)) for _ in range(4))
        return [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(shuffled)])]

    def test_implements_the_protocol(self, featurizer: Featurizer) -> None:
        assert folds(featurizer), "the featurizer lacks fold, training_data_from or cache_version"
        assert isinstance(featurizer.cache_version, str) and featurizer.cache_version  # type: ignore[attr-defined]

    def test_any_split_and_order_folds_to_the_same_state(
        self, featurizer: Featurizer, fold_events: Sequence[Event]
    ) -> None:
        whole = featurizer.fold(None, list(fold_events))  # type: ignore[attr-defined]
        for seed in range(self.SPLITS):
            state = None
            for part in self.splits(fold_events, seed):
                state = featurizer.fold(state, part)  # type: ignore[attr-defined]
            assert state == whole, f"split {seed} folds to another state than the whole event set"

    def test_training_data_from_the_state_is_exactly_training_data(
        self, featurizer: Featurizer, fold_events: Sequence[Event], fold_now: datetime
    ) -> None:
        ordered = sorted(fold_events, key=lambda e: (e.time, e.id))
        expected = featurizer.training_data(ordered, now=fold_now)
        for seed in range(self.SPLITS):
            state = None
            for part in self.splits(fold_events, seed):
                state = featurizer.fold(state, part)  # type: ignore[attr-defined]
            found = featurizer.training_data_from(state, now=fold_now)  # type: ignore[attr-defined]
            assert isinstance(found, Dataset), "training_data_from answered None for a now after every event"
            for name in ("x", "y", "weights", "times"):
                a, b = getattr(found, name), getattr(expected, name)
                assert (a is None and b is None) or (
                    a is not None and b is not None and a.shape == b.shape and (a == b).all()
                ), f"training_data_from differs from training_data in {name} (split {seed})"
            assert found.schema == expected.schema
