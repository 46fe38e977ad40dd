import json

import pytest
from toy_plugin import TOY_CONFIG

from satchel.app.config import config_schema, load_config
from satchel.errors import ConfigError


def test_valid_config_resolves_every_component(toy_registry, tmp_path):
    path = tmp_path / "satchel.toml"
    path.write_text(TOY_CONFIG)
    cfg = load_config(path, toy_registry)
    p = cfg.pipelines["main"]
    assert (p.model.name, p.featurizer.name, p.backend.name, p.store.name) == (
        "toy",
        "toy_features",
        "toy_backend",
        "toy_store",
    )
    assert p.model.options.hidden == 4
    assert p.scheduler.options.min_interval == 7200.0
    assert cfg.data_dir == tmp_path / "data" and cfg.key_dir == tmp_path / "keys"
    assert cfg.age_of_digital_consent == 13 and cfg.retention_days == 365


def test_every_mistake_is_reported_with_its_dotted_path(toy_registry):
    bad = (
        TOY_CONFIG.replace('backend = "toy_backend"', 'backend = "toy_bakend"')
        .replace("hidden = 4", "hidden = 0, depth = 3")
        .replace('min_interval = "2h"', 'min_interval = "soon"')
        .replace('purposes = ["toy_purpose"]', 'purposes = ["marketing"]')
    )
    with pytest.raises(ConfigError) as e:
        load_config(bad, toy_registry)
    problems = dict(e.value.problems)
    assert "unknown backend 'toy_bakend'" in problems["pipelines.main.backend"]
    assert "did you mean 'toy_backend'" in problems["pipelines.main.backend"]
    assert "pipelines.main.model.options.hidden" in problems
    assert "unknown setting" in problems["pipelines.main.model.options.depth"]
    assert "not a duration" in problems["pipelines.main.scheduler.options.min_interval"]
    assert "does not serve ['marketing']" in problems["pipelines.main.purposes"]


def test_structural_errors_have_paths(toy_registry):
    with pytest.raises(ConfigError) as e:
        load_config(
            '[app]\nid = "Bad Id"\ncolour = 1\n[privacy]\nage_of_digital_consent = 40\n', toy_registry
        )
    paths = [p for p, _ in e.value.problems]
    assert "app.id" in paths and "app.colour" in paths and "privacy.age_of_digital_consent" in paths
    assert "pipelines" in paths


def test_broken_toml_and_missing_file(toy_registry, tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config("[app\nid=", toy_registry)
    with pytest.raises(ConfigError, match="satchel init"):
        load_config(tmp_path / "nope.toml", toy_registry)


def test_schema_lists_component_choices_and_options(toy_registry):
    schema = config_schema(toy_registry)
    backend = schema["$defs"]["PipelineSection"]["properties"]["backend"]
    assert "toy_backend" in backend["anyOf"][0]["enum"] and "litert" in backend["anyOf"][0]["enum"]
    sched = schema["$defs"]["PipelineSection"]["properties"]["scheduler"]
    conditions = next(v for v in sched["anyOf"][1:] if v["properties"]["name"]["const"] == "conditions")
    assert "require_charging" in conditions["properties"]["options"]["properties"]
    json.dumps(schema)


def test_starter_config_is_valid_toml_with_the_builtin_names():
    import tomllib

    from satchel.app.config import STARTER_CONFIG, ConfigFile

    ConfigFile.model_validate(tomllib.loads(STARTER_CONFIG))
