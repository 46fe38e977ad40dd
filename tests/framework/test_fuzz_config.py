"""Fuzzing the config loader: any TOML text or mapping gives an AppConfig or a ConfigError, never a crash."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from satchel.app.config import STARTER_CONFIG, load_config
from satchel.errors import ConfigError
from satchel.testing import isolated_registry

FUZZ = settings(derandomize=True, max_examples=200, deadline=None, database=None)
REGISTRY = isolated_registry()

#: values TOML can hold, with the ones that broke validators before
toml_value = st.recursive(
    st.one_of(
        st.booleans(),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(),
        st.text(max_size=6),
        st.sampled_from(
            [
                "",
                "\x00",
                "1e999",
                "90s",
                "-1h",
                "9" * 40 + "d",
                "nan",
                "inf",
                "habit",
                "litert",
                "onnx",
                "env",
                "passphrase",
                "insecure_file",
                "conditions",
                "../x",
                "/",
            ]
        ),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)

VALID = {
    "app": {"id": "fuzz-app", "data_dir": "data", "key_dir": "keys"},
    "privacy": {
        "key_provider": {"name": "env", "options": {"variable": "SATCHEL_FUZZ_KEY"}},
        "retention_days": 30,
    },
    "pipelines": {
        "habits": {
            "model": {"name": "habit", "options": {"min_samples": 10}},
            "purposes": ["habit_reminders"],
            "backend": "onnx",
            "epochs": 3,
            "scheduler": {"name": "conditions", "options": {"min_interval": "12h", "min_new_samples": 5}},
        }
    },
}


def _paths(tree: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if not isinstance(tree, dict):
        return [prefix]
    return [prefix] + [p for k, v in tree.items() for p in _paths(v, (*prefix, k))]


PATHS = _paths(VALID)[1:]


def _loads(source: object) -> None:
    try:
        config = load_config(source, REGISTRY)  # type: ignore[arg-type]
    except ConfigError as e:
        assert e.problems and all(isinstance(msg, str) and msg for _, msg in e.problems)
    else:
        assert config.app_id and config.pipelines


@FUZZ
@given(
    st.lists(
        st.tuples(st.sampled_from(PATHS), toml_value, st.none() | st.text(max_size=4)), min_size=1, max_size=3
    )
)
def test_mutated_mappings(mutations):
    doc = copy.deepcopy(VALID)
    for path, value, extra_key in mutations:
        node = doc
        try:
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
        except (KeyError, TypeError):  # an earlier mutation replaced a table this path runs through
            continue
        if extra_key is not None:
            node[extra_key] = value
    _loads(doc)


@FUZZ
@given(
    st.integers(0, len(STARTER_CONFIG)),
    st.integers(0, 40),
    st.text(alphabet=st.sampled_from(list("=\"[]{}.,#\n -_0123456789abcdefinlrtu\x00\\'")), max_size=12),
)
def test_edited_starter_config_text(at, cut, insert):
    _loads(STARTER_CONFIG[:at] + insert + STARTER_CONFIG[at + cut :])


def test_the_valid_document_loads():
    """The fuzzers start from a document that loads, so their mutations reach every check."""
    assert load_config(VALID, REGISTRY).pipelines["habits"].epochs == 3
