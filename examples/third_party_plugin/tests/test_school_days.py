from datetime import datetime, timezone

import pytest
import satchel_school_days

from satchel.testing.conformance import PluginConformance, SchedulerConformance


class TestPlugin(PluginConformance):
    @pytest.fixture
    def plugin(self):
        return satchel_school_days


class TestScheduler(SchedulerConformance):
    @pytest.fixture
    def scheduler(self):
        return satchel_school_days.SchoolDaysScheduler(
            satchel_school_days.SchoolDaysOptions(start_hour=0, end_hour=24)
        )


def test_weekend_is_refused_with_a_reason():
    s = satchel_school_days.SchoolDaysScheduler(
        satchel_school_days.SchoolDaysOptions(start_hour=0, end_hour=24)
    )
    saturday = datetime(2026, 3, 7, 12, tzinfo=timezone.utc)
    from satchel.plugin.records import DeviceState
    from satchel.training.scheduling import ScheduleInput

    d = s.decide(ScheduleInput(saturday, DeviceState(), None, 10, 10))
    assert not d.run and any("not a school day" in r for r in d.reasons)
