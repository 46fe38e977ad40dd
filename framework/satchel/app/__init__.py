"""The Python API: ``satchel.open(config)`` returns an :class:`App`.

Every call that touches a learner's data goes through the app: it pseudonymizes the subject id,
asks the consent gate, reads or writes sealed records, and appends to the audit log::

    app = satchel.open("satchel.toml")
    app.consent.grant("ada", purposes=["habit_reminders"], notice=NOTICE, policy_version="2026-01",
                      actor="guardian", age_band="8-12", method="signed_form")
    app.record("ada", Event(type="habit_completed", time=now, data={"habit": "reading"}))
    app.train("ada", "habits")
    app.predict("ada", "habits").decisions

:class:`App` is one class assembled from its parts: what it opens and shares (``_wiring``), events
(``_recording``), models served (``_serving``) and trained (``_training``), and learner rights
(``_rights``).
"""

from satchel.app._app import App, open
from satchel.app._recording import RecordResult
from satchel.app._rights import ConsentAPI, ConsentStatus
from satchel.app._rights import _entry_json as _entry_json  # the CLI prints consent entries with it
from satchel.app._serving import TRAINER_CACHE_SIZE, Prediction
from satchel.app._training import PLANNED_DATA_BUDGET
from satchel.app._wiring import AUDIT_FILE, DB_FILE, Pseudonym

__all__ = [
    "AUDIT_FILE",
    "DB_FILE",
    "PLANNED_DATA_BUDGET",
    "TRAINER_CACHE_SIZE",
    "App",
    "ConsentAPI",
    "ConsentStatus",
    "Prediction",
    "Pseudonym",
    "RecordResult",
    "open",
]
