"""The example plugins install into a fresh venv, are discovered, validated and usable: the third-party
scheduler and the tutorial's quiz plugin (record -> train -> predict -> audit, found by its entry point)."""

import json
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "third_party_plugin"
TUTORIAL = ROOT / "examples" / "quiz_plugin"

CONFIG = """
[app]
id = "school"
data_dir = "data"
key_dir = "keys"

[privacy]
key_provider = "toy_keys"

[pipelines.main]
model = "toy"
purposes = ["toy_purpose"]
backend = "toy_backend"
store = "toy_store"
scheduler = { name = "school_days", options = { days = ["mon", "wed"], start_hour = 15, end_hour = 20 } }
"""

USE = """
import json, sys
sys.path.insert(0, {tests!r})
from toy_plugin import make_toy_plugin
from satchel.app.config import load_config
from satchel.plugin.registry import Registry
reg = Registry({{"toy": make_toy_plugin()}})
p = load_config({config!r}, reg).pipelines["main"]
sched = p.scheduler.create()
from datetime import datetime, timezone
from satchel.plugin.records import DeviceState
from satchel.training.scheduling import ScheduleInput
d = sched.decide(ScheduleInput(datetime(2026, 3, 7, 12, tzinfo=timezone.utc), DeviceState(), None, 5, 5))
print(json.dumps({{"origin": reg.origin("scheduler", "school_days").distribution,
                  "days": list(p.scheduler.options.days), "run": d.run, "reasons": list(d.reasons)}}))
"""


@pytest.fixture(scope="module")
def plugin_venv(tmp_path_factory):
    """A new venv holding only the example plugin (built from a copy, with pip's build isolation) that
    also sees the environment running these tests (satchel, its dependencies, pytest) through a .pth
    file naming the running environment's site directories, not the base interpreter's."""
    where = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False).create(where)
    python = where / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    running = site.getsitepackages() + ([site.getusersitepackages()] if site.ENABLE_USER_SITE else [])
    running = [d for d in running if Path(d).is_dir()]
    Path(purelib, "_running_environment.pth").write_text(
        "import site; " + "; ".join(f"site.addsitedir({d!r})" for d in running) + "\n"
    )
    ignore = shutil.ignore_patterns("build", "*.egg-info", "*-data", "*-keys")
    sources = [
        shutil.copytree(example, where / example.name, ignore=ignore) for example in (EXAMPLE, TUTORIAL)
    ]
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            *map(str, sources),
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert install.returncode == 0, (
        f"pip could not install the examples into {where}:\n{install.stderr[-3000:]}"
    )
    yield python
    shutil.rmtree(where, ignore_errors=True)


def test_discovered_in_satchel_plugins(plugin_venv):
    out = subprocess.run(
        [str(plugin_venv), "-m", "satchel", "plugins", "--json"], capture_output=True, text=True, check=True
    ).stdout
    rows = json.loads(out)["registrations"]["satchel_schedulers"]
    school = next(r for r in rows if r["name"] == "school_days")
    assert school["distribution"] == "satchel-school-days" and school["version"] == "1.0.0"
    assert school["builtin"] is False


def test_validated_and_usable_from_a_config(plugin_venv, tmp_path):
    config = tmp_path / "satchel.toml"
    config.write_text(CONFIG)
    code = USE.format(tests=str(ROOT / "tests" / "framework"), config=str(config))
    out = subprocess.run([str(plugin_venv), "-c", code], capture_output=True, text=True, check=True).stdout
    result = json.loads(out)
    assert result["origin"] == "satchel-school-days" and result["days"] == ["mon", "wed"]
    assert result["run"] is False and any("not a school day" in r for r in result["reasons"])
    bad = tmp_path / "bad.toml"
    bad.write_text(CONFIG.replace("start_hour = 15", "start_hour = 21"))
    proc = subprocess.run(
        [str(plugin_venv), "-c", code.replace(str(config), str(bad))], capture_output=True, text=True
    )
    assert (
        proc.returncode != 0
        and "pipelines.main.scheduler.options" in proc.stderr
        and "start_hour" in proc.stderr
    )


def test_its_own_conformance_tests_pass(plugin_venv):
    proc = subprocess.run(
        [str(plugin_venv), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        capture_output=True,
        text=True,
        cwd=EXAMPLE,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_installed_tutorial_plugin_runs_end_to_end(plugin_venv, tmp_path):
    from test_plugin_tutorial import check_tutorial_output, run_tutorial

    shutil.copy(TUTORIAL / "try_it.py", tmp_path / "try_it.py")
    config = (TUTORIAL / "satchel.toml").read_text()
    assert 'plugins = ["quiz_plugin"]' in config
    (tmp_path / "satchel.toml").write_text(
        config.replace('plugins = ["quiz_plugin"]', "")
    )  # the entry point finds it
    check_tutorial_output(run_tutorial(tmp_path, python=str(plugin_venv)))
    listed = json.loads(
        subprocess.run(
            [str(plugin_venv), "-m", "satchel", "plugins", "--json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )["registrations"]["satchel_models"]
    assert [m["distribution"] for m in listed if m["name"] == "quiz"] == ["satchel-quiz"]
