from datetime import datetime, timedelta, timezone

import pytest
from app_support import grant

from satchel.errors import ConsentError, EventError
from satchel.events import Event

NOW = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)


def ev(habit="reading", t=NOW, type="habit_completed", **data):
    return Event(type=type, time=t, data={"habit": habit, **data})


def test_no_consent_refuses_and_stores_nothing(make_app):
    app = make_app()
    with pytest.raises(ConsentError, match="no active opt-in consent for habit_reminders"):
        app.record("ada", ev())
    assert app.events.count(app.pseudonym("ada")) == 0
    assert app.audit_log.entries()[-1].action == "consent.refused"


def test_minor_needs_a_guardian(make_app):
    app = make_app()
    with pytest.raises(ConsentError, match="cannot consent alone"):
        grant(app, "kid", actor="self", age_band="8-12")
    with pytest.raises(ConsentError, match="cannot consent alone"):
        grant(app, "kid", actor="self", age_band="12-14")  # a band that straddles the age counts as a minor
    with pytest.raises(ConsentError):
        app.record("kid", ev())
    grant(app, "kid", actor="guardian", age_band="8-12")
    assert app.record("kid", ev()).stored == 1


def test_school_consent_only_for_configured_educational_purposes(make_app):
    app = make_app()
    with pytest.raises(ConsentError, match="educational purposes"):
        grant(app, "kid", actor="school", age_band="8-12")
    app.close()
    app = make_app(privacy_extra='school_consent_purposes = ["habit_reminders"]')
    grant(app, "kid", actor="school", age_band="8-12")
    assert app.record("kid", ev()).stored == 1


def test_withdrawal_takes_effect_at_the_next_call_and_purges(make_app):
    app = make_app()
    grant(app, "ada")
    app.record("ada", [ev(t=NOW - timedelta(days=i)) for i in range(5)])
    pseudo = app.pseudonym("ada")
    assert app.events.count(pseudo) == 5
    app.consent.withdraw("ada", reason="changed my mind")
    with pytest.raises(ConsentError, match="withdrawn"):
        app.record("ada", ev())
    with pytest.raises(ConsentError):
        app.predict("ada", "habits")
    assert app.events.count(pseudo) == 0
    actions = [e.action for e in app.audit_log.entries()]
    assert "consent.withdrawn" in actions and "consent.purged" in actions


def test_expired_consent_is_not_consent(make_app):
    app = make_app()
    grant(app, "ada", at=NOW - timedelta(days=10), expires_at=NOW - timedelta(days=1))
    with pytest.raises(ConsentError, match="never granted or expired"):
        app.record("ada", ev(), at=NOW)


def test_a_deny_from_any_plugin_wins(make_app):
    from satchel import hookimpl
    from satchel.plugin.records import ConsentVerdict

    class Veto:
        @hookimpl
        def satchel_consent_verdict(self, request):
            return ConsentVerdict(False, "paused by the school", "veto")

    app = make_app()
    grant(app, "ada")
    app.registry.register(Veto(), "veto")
    with pytest.raises(ConsentError, match="paused by the school"):
        app.record("ada", ev())


def test_no_consent_plugin_means_deny(make_app):
    app = make_app()
    grant(app, "ada")
    app.registry.unregister("consent")
    with pytest.raises(ConsentError, match="no consent plugin answered"):
        app.record("ada", ev())


def test_consent_record_holds_the_notice_hash_not_the_text(make_app):
    import hashlib

    from app_support import NOTICE

    app = make_app()
    entry = grant(app, "ada")
    assert entry.notice_sha256 == hashlib.sha256(NOTICE.encode()).hexdigest()
    status = app.consent.show("ada")
    assert set(status.active) == {"habit_reminders"} and len(status.history) == 1


def test_malformed_events_are_refused_whole_with_the_field(make_app):
    app = make_app()
    grant(app, "ada")
    with pytest.raises(EventError, match="event 1: field 'data.habit'"):
        app.record("ada", [ev(), Event(type="habit_completed", time=NOW, data={"hab": "x"})])
    with pytest.raises(EventError, match="unknown event type 'habit_complete'"):
        app.record("ada", {"type": "habit_complete", "time": NOW.isoformat(), "data": {}})
    with pytest.raises(EventError, match="field 'time'"):
        app.record("ada", {"type": "habit_completed", "time": "2026-03-02T12:00:00", "data": {"habit": "x"}})
    assert app.events.count(app.pseudonym("ada")) == 0


def test_idempotent_by_event_id(make_app):
    app = make_app()
    grant(app, "ada")
    e = ev()
    assert app.record("ada", [e, e]).stored == 1
    again = app.record("ada", e)
    assert (again.stored, again.duplicates) == (0, 1)
