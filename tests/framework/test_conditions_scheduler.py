from datetime import datetime, timedelta, timezone

import pytest

from satchel.plugin.records import DeviceState
from satchel.testing.conformance import PluginConformance, SchedulerConformance
from satchel.training.scheduling import ScheduleInput
from satchel_plugins import schedulers
from satchel_plugins.schedulers import ConditionsOptions, ConditionsScheduler, parse_duration

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=timezone.utc)


class TestPlugin(PluginConformance):
    @pytest.fixture
    def plugin(self):
        return schedulers


class TestConformance(SchedulerConformance):
    @pytest.fixture
    def scheduler(self):
        return ConditionsScheduler(ConditionsOptions(require_charging=True))


def facts(
    device=DeviceState(battery_percent=80, charging=True, idle=True, unmetered_network=True),
    last=None,
    new=10,
):
    return ScheduleInput(NOW, device, last, new, 100)


def test_every_unmet_condition_is_a_stated_reason():
    s = ConditionsScheduler(
        ConditionsOptions(
            require_charging=True,
            require_idle=True,
            require_unmetered=True,
            min_new_samples=5,
            min_battery_percent=30,
        )
    )
    d = s.decide(
        facts(
            DeviceState(battery_percent=10, charging=False, idle=None, unmetered_network=False),
            last=NOW - timedelta(hours=1),
            new=2,
        )
    )
    assert not d.run
    joined = " | ".join(d.reasons)
    for words in (
        "not charging",
        "idle state unknown",
        "network metered",
        "battery 10% below 30%",
        "2 new samples, need 5",
        "minimum interval",
    ):
        assert words in joined
    assert d.not_before == NOW + timedelta(hours=5)


def test_met_conditions_run_with_a_time_budget():
    d = ConditionsScheduler(ConditionsOptions(require_charging=True, time_budget="2m")).decide(facts())
    assert d.run and d.reason == "due" and d.time_budget_s == 120


def test_quiet_hours_wrap_midnight():
    local_now = NOW.astimezone()
    start = (local_now - timedelta(hours=1)).strftime("%H:%M")
    end = (local_now + timedelta(hours=2)).strftime("%H:%M")
    d = ConditionsScheduler(ConditionsOptions(quiet_hours=f"{start}-{end}")).decide(facts())
    assert not d.run and "quiet hours" in d.reason and d.not_before > NOW


@pytest.mark.parametrize("text,seconds", [(90, 90), ("90s", 90), ("15m", 900), ("6h", 21600), ("1d", 86400)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_bad_options_are_rejected():
    with pytest.raises(ValueError, match="not a duration"):
        ConditionsOptions(min_interval="soonish")
    with pytest.raises(ValueError, match="quiet_hours"):
        ConditionsOptions(quiet_hours="25:00-07:00")
