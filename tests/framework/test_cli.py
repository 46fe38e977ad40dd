import json
import subprocess
import sys

from click.testing import CliRunner
from toy_plugin import TOY_CONFIG, make_toy_plugin

from satchel.cli import cli
from satchel.testing import isolated_registry


def run(*args, registry=None):
    obj = {"registry": registry} if registry is not None else {}
    return CliRunner().invoke(cli, list(args), obj=obj, catch_exceptions=False)


def test_version_and_help():
    from satchel import __version__

    assert __version__ in run("--version").output
    out = run("--help").output
    for command in ("plugins", "validate", "init", "config"):
        assert command in out


def test_plugins_json_lists_every_hook_kind_and_distribution():
    from satchel.plugin.registry import HOOK_KINDS, RUNTIME_HOOKS

    data = json.loads(run("plugins", "--json").output)
    assert set(data["registrations"]) == {k.hook for k in HOOK_KINDS}
    assert set(data["runtime_hooks"]) == set(RUNTIME_HOOKS)
    conditions = next(r for r in data["registrations"]["satchel_schedulers"] if r["name"] == "conditions")
    assert conditions["distribution"] == "satchel" and conditions["builtin"] is True


def test_validate_reports_every_problem_and_exits_1(tmp_path):
    reg = isolated_registry({"toy": make_toy_plugin()})
    good = tmp_path / "good.toml"
    good.write_text(TOY_CONFIG)
    result = run("validate", str(good), registry=reg)
    assert result.exit_code == 0 and "valid" in result.output
    bad = tmp_path / "bad.toml"
    bad.write_text(TOY_CONFIG.replace('"toy_backend"', '"tflit"').replace("hidden = 4", "hidden = -1"))
    result = CliRunner().invoke(cli, ["validate", str(bad)], obj={"registry": reg})
    assert result.exit_code == 1
    assert "pipelines.main.backend: unknown backend 'tflit'" in result.output
    assert "pipelines.main.model.options.hidden" in result.output
    assert "Traceback" not in result.output


def test_init_writes_a_starter_and_refuses_to_overwrite(tmp_path):
    target = tmp_path / "satchel.toml"
    assert run("init", str(target)).exit_code == 0
    assert "[pipelines." in target.read_text()
    again = CliRunner().invoke(cli, ["init", str(target)], obj={})
    assert again.exit_code == 1 and "already exists" in again.output and "--force" in again.output


def test_config_schema_is_json():
    schema = json.loads(run("config", "schema").output)
    assert schema["title"] == "ConfigFile"


def test_errors_are_one_line_without_traceback_and_debug_shows_it(tmp_path):
    target = tmp_path / "satchel.toml"
    target.write_text("x")
    proc = subprocess.run(
        [sys.executable, "-m", "satchel", "init", str(target)], capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "satchel", "--debug", "init", str(target)], capture_output=True, text=True
    )
    assert proc.returncode == 1 and "Traceback" in proc.stderr


def test_deprecated_hook_commands_still_run_with_a_warning_without_collecting_other_kinds():
    import types
    import warnings

    import click

    from satchel import hookimpl
    from satchel.plugin.records import CliCommandSpec

    @click.command()
    def hello():
        """Say hello."""
        click.echo("hello from a plugin")

    def broken_models():
        raise RuntimeError("kaput")

    plugin = types.SimpleNamespace(
        satchel_cli_commands=hookimpl(lambda: [CliCommandSpec("hello", command=hello)]),
        satchel_models=hookimpl(broken_models),
    )
    reg = isolated_registry({"greeter": plugin}, builtins=False)
    assert "hello" not in run("--help", registry=reg).output  # --help never loads component plugins
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert run("hello", registry=reg).output == "hello from a plugin\n"
    assert any(issubclass(w.category, DeprecationWarning) and "satchel.cli" in str(w.message) for w in caught)
    result = CliRunner().invoke(
        cli, ["plugins"], obj={"registry": reg}
    )  # lists every kind: names the culprit
    assert result.exit_code == 1 and "plugin 'greeter'" in result.output and "kaput" in result.output


def _entry_points(monkeypatch, **targets):
    from importlib.metadata import EntryPoint

    import satchel.cli

    found = {name: EntryPoint(name, value, "satchel.cli") for name, value in targets.items()}
    monkeypatch.setattr(satchel.cli, "_entry_point_commands", lambda: found)


def test_entry_point_commands_are_listed_with_their_help_and_run(monkeypatch):
    _entry_points(monkeypatch, greet="toy_cli:greet")
    assert "Greet from a plugin." in run("--help").output
    assert run("greet").output == "greetings\n"


def test_a_broken_entry_point_command_is_named_and_the_others_still_work(monkeypatch):
    _entry_points(monkeypatch, broken="toy_cli:missing", notcmd="toy_cli:NOT_A_COMMAND")
    result = CliRunner().invoke(cli, ["broken"])
    assert (
        result.exit_code == 1
        and "command 'broken'" in result.output
        and "SATCHEL_DISABLE_PLUGINS" in result.output
    )
    result = CliRunner().invoke(cli, ["notcmd"])
    assert result.exit_code == 1 and "not a click command" in result.output
    assert run("validate", "--help").exit_code == 0


def test_json_errors_on_request(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(TOY_CONFIG.replace('backend = "toy_backend"', 'backend = "tflit"'))
    reg = isolated_registry({"toy": make_toy_plugin()})
    result = CliRunner().invoke(cli, ["validate", str(bad), "--json"], obj={"registry": reg})
    error = json.loads(result.output)["error"]
    assert result.exit_code == 1 and error["type"] == "ConfigError"
    assert error["problems"] == [
        {
            "path": "pipelines.main.backend",
            "message": "unknown backend 'tflit'; choose one of: litert, onnx, toy_backend",
        }
    ]
    good = tmp_path / "good.toml"
    good.write_text(TOY_CONFIG)
    ok = json.loads(CliRunner().invoke(cli, ["validate", str(good), "--json"], obj={"registry": reg}).output)
    assert ok == {"config": str(good), "valid": True, "app": "toy-app", "pipelines": ["main"]}
    missing = CliRunner().invoke(
        cli, ["train", "--subject", "x", "--pipeline", "p", "-c", str(tmp_path / "no.toml"), "--json"]
    )
    assert missing.exit_code == 1 and "no such file" in json.loads(missing.output)["error"]["message"]
