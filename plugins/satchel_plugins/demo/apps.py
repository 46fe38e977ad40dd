"""The demo's three apps: their embedded settings (``satchel.toml``), pipelines and consent notices."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

KEY_VARIABLE = "SATCHEL_DEMO_KEY"
POLICY = "2026-01"
NOTICES = {
    "habit_reminders": "We use your habit history on this device only, to time reminders. Withdraw any time.",
    "vocabulary_scheduling": "We use your reviews on this device only, to schedule the next ones.",
    "grading_assistance": "We use your grades on this device only, to suggest grades in your style.",
}
CONFIG = """\
[app]
id = "{app_id}"
name = "{name} (satchel demo)"
data_dir = "{data}"
key_dir = "{keys}"

[privacy]
key_provider = {{ name = "env", options = {{ variable = "{variable}" }} }}
age_of_digital_consent = 13
retention_days = 365
purge_on_withdrawal = true

[pipelines.{pipeline}]
model = "{model}"
purposes = ["{purpose}"]
backend = "litert"
epochs = {epochs}
"""
HABITS, VOCABULARY, GRADING = "habits", "vocabulary", "grading"


@dataclass(frozen=True)
class DemoApp:
    """One of the demo's apps: an id, a name and its single pipeline."""

    app_id: str
    name: str
    pipeline: str
    model: str
    purpose: str
    epochs: int

    def config(self, data_root: Path, key_root: Path) -> str:
        """Its satchel.toml: data and keys under separate roots, the master key from ``KEY_VARIABLE``."""
        return CONFIG.format(
            app_id=self.app_id,
            name=self.name,
            data=(data_root / self.app_id).as_posix(),
            keys=(key_root / self.app_id).as_posix(),
            variable=KEY_VARIABLE,
            pipeline=self.pipeline,
            model=self.model,
            purpose=self.purpose,
            epochs=self.epochs,
        )


APPS = (
    DemoApp("habit-tracker", "Habit tracker", HABITS, "habit", "habit_reminders", 30),
    DemoApp("vocab-app", "Vocabulary app", VOCABULARY, "language", "vocabulary_scheduling", 30),
    DemoApp("grading-assistant", "Grading assistant", GRADING, "rubric", "grading_assistance", 40),
)
