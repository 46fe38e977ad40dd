"""Helpers shared by the app tests (importable: conftest modules are not)."""

from __future__ import annotations

NOTICE = "We use your habit history on this device only, to time reminders. You can withdraw any time."


def grant(app, subject, *, actor="self", age_band="18+", purposes=("habit_reminders",), **kw):
    return app.consent.grant(
        subject,
        purposes=list(purposes),
        notice=NOTICE,
        policy_version="2026-01",
        actor=actor,
        age_band=age_band,
        method="in_app_checkbox",
        **kw,
    )
