"""What importing satchel and starting its CLI loads: module sets, not timings (see benchmarks/bench_startup.py)."""

import json
import os
import subprocess
import sys
from importlib import metadata

import pytest

HEAVY = ("tensorflow", "onnxruntime", "ai_edge_litert", "onnx", "torch", "numpy", "pydantic")
#: Not needed to print help: ML runtimes, numpy, cryptography and rich (and pydantic, see below).
NOT_FOR_HELP = (
    "tensorflow",
    "onnxruntime",
    "ai_edge_litert",
    "onnx",
    "torch",
    "numpy",
    "cryptography",
    "rich",
)
#: satchel modules that only real work needs.
SATCHEL_WORK = (
    "satchel.app",
    "satchel.model.backend",
    "satchel.app.config",
    "satchel.privacy",
    "satchel.storage.event_store",
    "satchel.model.spec",
    "satchel.training.runner",
)


def _builtin_entry_points() -> dict[str, str]:
    return {
        ep.name: ep.value
        for ep in metadata.entry_points(group="satchel")
        if ep.dist is not None and ep.dist.name == "satchel"
    }


def _env() -> dict[str, str]:
    """The environment minus satchel's switches, with any third-party plugin disabled: these tests
    are about satchel's own plugins (a third-party one may import what it likes)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATCHEL_")}
    others = [
        ep.name
        for ep in metadata.entry_points(group="satchel")
        if ep.dist is None or ep.dist.name != "satchel"
    ]
    if others:
        env["SATCHEL_DISABLE_PLUGINS"] = ",".join(others)
    return env


def _loaded_by_help() -> tuple[str, list[str]]:
    """``satchel --help`` as the console script runs it: its output and every module it loaded."""
    code = (
        "import json, sys\n"
        "sys.argv = ['satchel', '--help']\n"
        "from satchel.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as e:\n"
        "    assert e.code in (0, None), e.code\n"
        "sys.stderr.write(json.dumps(sorted(sys.modules)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), check=True
    )
    return proc.stdout, json.loads(proc.stderr.strip().splitlines()[-1])


def _loaded(modules: list[str], roots: tuple[str, ...]) -> list[str]:
    return sorted({r for r in roots for m in modules if m == r or m.startswith(r + ".")})


def test_import_satchel_loads_no_heavy_module():
    code = f"import sys, satchel; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_cli_help_loads_no_ml_runtime():
    code = (
        "import sys; from click.testing import CliRunner; from satchel.cli import cli; "
        "CliRunner().invoke(cli, ['--help'], obj={}); "
        "print(','.join(m for m in ('tensorflow', 'onnxruntime', 'ai_edge_litert', 'onnx') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_satchel_help_lists_plugin_commands_but_imports_no_component_plugin():
    """``--help`` imports the ``satchel.cli`` entry-point modules only: a component plugin that imports
    numpy (or anything) at the top costs ``--help`` nothing."""
    output, modules = _loaded_by_help()
    assert "demo" in output and "plugins" in output and "tick" in output  # plugin, built-in and lazy commands
    assert _loaded(modules, NOT_FOR_HELP) == []
    assert _loaded(modules, SATCHEL_WORK) == []
    assert _loaded(modules, ("satchel.plugin.registry", "pluggy")) == []
    components = set(_builtin_entry_points().values())
    assert sorted(components & set(modules)) == []


def test_satchel_help_does_not_import_pydantic():
    _, modules = _loaded_by_help()
    assert _loaded(modules, ("pydantic",)) == []


#: Loaded only when a backend compiles or opens a model, or a federation runs.
RUNTIMES = ("tensorflow", "onnxruntime", "ai_edge_litert", "onnx", "torch", "flwr", "ray")


def test_builtin_plugins_import_no_runtime():
    """Loading the built-in plugins (any command that does work) imports no ML runtime at the top: a
    runtime loads when a backend compiles or opens a model."""
    targets = sorted(_builtin_entry_points().values())
    code = (
        "import importlib, json, sys\n"
        f"for target in {targets!r}:\n"
        "    importlib.import_module(target.split(':')[0])\n"
        f"roots = {RUNTIMES!r}\n"
        "print(json.dumps(sorted({r for r in roots for m in sys.modules if m == r or m.startswith(r + '.')})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), check=True)
    assert json.loads(out.stdout) == []


@pytest.mark.parametrize("target", sorted(set(_builtin_entry_points().values())))
def test_registration_modules_still_export_their_names(target):
    """The names a plugin package exports (``from satchel_plugins.key_providers import EnvKeyProvider``) resolve."""
    import importlib

    module = importlib.import_module(target)
    for name in getattr(module, "__all__", ()):
        assert getattr(module, name) is not None
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018
