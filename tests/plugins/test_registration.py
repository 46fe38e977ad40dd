"""The plugin modules register their records through satchel's hooks and pass the registry's checks."""

import pytest

from satchel.plugin.records import DATA_CATEGORIES
from satchel.plugin.registry import Registry
from satchel_plugins.habit import plugin as habit_plugin
from satchel_plugins.language import plugin as language_plugin
from satchel_plugins.rubric import plugin as rubric_plugin

PLUGINS = {"test_habit": habit_plugin, "test_language": language_plugin, "test_rubric": rubric_plugin}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry(PLUGINS, entry_points=False, env={}).load()


def test_event_types_declare_payloads_and_categories(registry):
    types = registry.all("event_type")
    expected = {
        "app_opened",
        "reminder_shown",
        "reminder_tapped",
        "habit_completed",
        "habit_skipped",
        "word_reviewed",
        "answer_submitted",
        "answer_graded",
    }
    assert expected <= set(types)
    for name in expected:
        spec = types[name].spec
        assert set(spec.categories) <= set(DATA_CATEGORIES) and spec.payload.model_config["extra"] == "forbid"
    assert types["answer_graded"].spec.categories == ("assessment",)
    assert "free_text" in types["answer_submitted"].spec.categories


def test_tasks_name_featurizers_purposes_and_metrics(registry):
    models = registry.all("model")
    expected = {
        "habit": ("habit_daily", "habit_reminders"),
        "language": ("review_history", "vocabulary_scheduling"),
        "rubric": ("answer_text", "grading_assistance"),
    }
    for name, (featurizer, purpose) in expected.items():
        spec = models[name].spec
        assert spec.featurizer == featurizer and spec.purposes == (purpose,) and spec.metrics
        task = spec.create()
        feat = registry.get("featurizer", featurizer).create()
        assert task.model_spec(feat.schema).input_dim == feat.schema.width


def test_featurizers_read_only_declared_event_types(registry):
    reads = {n: r.spec.reads for n, r in registry.all("featurizer").items()}
    assert set(reads["review_history"]) == {"word_reviewed"}
    assert set(reads["answer_text"]) == {"answer_submitted", "answer_graded"}
    assert "reminder_shown" in reads["habit_daily"]


def test_sources_build_from_default_options(registry):
    sources = registry.all("event_source")
    for name in ("loop_habits_csv", "anki_revlog_csv", "graded_answers_csv"):
        assert hasattr(sources[name].spec.create(), "read")
