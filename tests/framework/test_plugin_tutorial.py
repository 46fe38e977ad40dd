"""The plugin tutorial (docs/plugins.md, examples/quiz_plugin) is short, and its exact code runs end to end:
as a local plugin named in satchel.toml, from a --plugins-dir, and pip-installed (tests/framework/
test_third_party_plugin.py)."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from satchel.cli import cli

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "examples" / "quiz_plugin"
DOCS = ROOT / "docs" / "plugins.md"


def _code_lines(path: Path) -> int:
    return sum(
        1 for line in path.read_text().splitlines() if line.strip() and not line.strip().startswith("#")
    )


def test_the_tutorial_plugin_is_at_most_30_lines_and_the_docs_show_it_verbatim():
    plugin = TUTORIAL / "quiz_plugin.py"
    assert _code_lines(plugin) <= 30
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)
    assert plugin.read_text() in blocks, (
        "docs/plugins.md must show examples/quiz_plugin/quiz_plugin.py unchanged"
    )
    assert (TUTORIAL / "try_it.py").read_text() in blocks


def run_tutorial(folder: Path, python: str = sys.executable) -> str:
    """``python try_it.py`` in ``folder``: record -> train -> predict -> audit; its output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SATCHEL_", "QUIZ_"))}
    proc = subprocess.run(
        [python, "try_it.py"],
        cwd=folder,
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "absl::InitializeLog" not in proc.stderr and "XNNPACK" not in proc.stderr, (
        "TensorFlow's log leaked"
    )
    return proc.stdout


def check_tutorial_output(out: str) -> None:
    assert "trained: promoted=True" in out, out
    p = {m[0]: float(m[1]) for m in re.findall(r"P\(next (\w+) answer right\) = ([\d.]+)", out)}
    assert set(p) == {"fractions", "decimals", "percent"}
    assert p["fractions"] > p["decimals"] > p["percent"], "the model ranks topics by the learner's skill"
    assert "audit: pipeline quiz reads learning_performance data" in out
    assert "'critical': 0" in out and "'high': 0" in out


def test_the_tutorial_runs_as_a_local_plugin_named_in_the_config(tmp_path):
    for name in ("quiz_plugin.py", "satchel.toml", "try_it.py"):
        shutil.copy(TUTORIAL / name, tmp_path / name)
    check_tutorial_output(run_tutorial(tmp_path))
    db = (tmp_path / "quiz-data").rglob("*")
    assert not any(b"fractions" in p.read_bytes() for p in db if p.is_file()), (
        "a topic name on disk in plaintext"
    )


def test_a_plugins_dir_registers_every_file_in_it(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    shutil.copy(TUTORIAL / "quiz_plugin.py", plugins / "quiz_plugin.py")
    (plugins / "_helper.py").write_text("raise RuntimeError('files starting with _ are not plugins')\n")
    result = CliRunner().invoke(cli, ["--plugins-dir", str(plugins), "plugins", "--json"])
    assert result.exit_code == 0, result.output
    models = json.loads(result.output)["registrations"]["satchel_models"]
    quiz = next(m for m in models if m["name"] == "quiz")
    assert quiz["plugin"] == "quiz_plugin" and quiz["distribution"] == "(local)" and quiz["builtin"] is False


def test_a_missing_or_broken_local_plugin_is_named(tmp_path):
    config = (TUTORIAL / "satchel.toml").read_text()
    (tmp_path / "satchel.toml").write_text(config)
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "satchel.toml")])
    assert result.exit_code == 1 and "local plugin 'quiz_plugin' not found" in result.output
    (tmp_path / "quiz_plugin.py").write_text("import no_such_module_anywhere\n")
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "satchel.toml")])
    assert (
        result.exit_code == 1
        and "failed to import" in result.output
        and "no_such_module_anywhere" in result.output
    )


def test_events_schema_describes_every_event_type_and_validates_real_lines():
    import pytest

    jsonschema = pytest.importorskip("jsonschema")
    result = CliRunner().invoke(cli, ["events", "schema"])
    schema = json.loads(result.output)
    assert "habit_completed" in schema["properties"]["type"]["enum"]
    validator = jsonschema.Draft202012Validator(schema)
    good = {
        "subject": "ada",
        "type": "habit_completed",
        "time": "2026-03-01T18:04:00+01:00",
        "data": {"habit": "reading"},
    }
    assert list(validator.iter_errors(good)) == []
    assert list(validator.iter_errors({**good, "data": {}}))  # the habit's payload needs its habit
    assert list(validator.iter_errors({**good, "colour": "red"}))
    assert list(validator.iter_errors({k: v for k, v in good.items() if k != "time"}))
