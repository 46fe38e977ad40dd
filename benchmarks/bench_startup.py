"""How long satchel takes to start, each command in a fresh interpreter, against the runtimes it trains with.

Every row is a new subprocess (``python -c ...`` or the ``satchel`` console script, stdout discarded),
timed by wall clock from spawn to exit, so it includes the interpreter's own start-up (the
``python -c pass`` row). Commands run in alternating rounds after one untimed warm-up, so they all
see the same machine load and a warm file cache; the table gives the median and the minimum.
``import tensorflow`` is the reference: it is what an app that personalizes with TensorFlow would
pay before doing anything; ``ai_edge_litert`` and ``onnxruntime`` are what satchel's backends
actually load when they train or predict.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from shutil import which

from benchmarks.report import Context, Section, TableBuilder, pyplot, save_plot

#: Modules that would make a command slow or are simply not needed to print help.
HEAVY = (
    "tensorflow",
    "onnxruntime",
    "ai_edge_litert",
    "onnx",
    "torch",
    "numpy",
    "pydantic",
    "cryptography",
    "rich",
)
#: Environment switches of the registry that would change what is measured.
_SCRUB = ("SATCHEL_PLUGINS", "SATCHEL_DISABLE_PLUGINS", "SATCHEL_TRACE", "PYTHONPROFILEIMPORTTIME")
_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)\s*$")


@dataclass(frozen=True)
class Command:
    label: str
    argv: tuple[str, ...]
    heavy: bool = False  # seconds per run: fewer rounds, and no warm-up in --quick
    target: str = ""
    limit: float | None = None  # target in seconds
    path: str = ""  # prepended to PYTHONPATH (a folder with an installed plugin)


def console_script() -> str:
    """The ``satchel`` console script of this interpreter (not a shell shim in front of it)."""
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        if (folder / "satchel").is_file():
            return str(folder / "satchel")
    found = which("satchel")
    if found is None:
        raise RuntimeError("the satchel console script is not installed; run `pip install -e .`")
    return found


#: The row ``satchel --help`` with the tutorial plugin installed is compared with (issue: within 0.05 s).
HELP, HELP_WITH_PLUGIN = "satchel --help", "satchel --help (tutorial plugin installed)"


def install_tutorial_plugin(site: Path) -> Path:
    """examples/quiz_plugin laid out in ``site`` as pip installs it: the module and a dist-info with its
    ``satchel`` entry point (found through PYTHONPATH like any installed distribution)."""
    root = Path(__file__).resolve().parents[1]
    shutil.copy(root / "examples" / "quiz_plugin" / "quiz_plugin.py", site / "quiz_plugin.py")
    info = site / "satchel_quiz-1.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: satchel-quiz\nVersion: 1.0.0\n")
    (info / "entry_points.txt").write_text("[satchel]\nquiz = quiz_plugin\n")
    return site


def commands(plugin_site: Path | None = None) -> list[Command]:
    py, script = sys.executable, console_script()
    with_plugin = (
        [Command(HELP_WITH_PLUGIN, (script, "--help"), target="≤ 0.05 s above --help", path=str(plugin_site))]
        if plugin_site is not None
        else []
    )
    return [
        Command("python -c pass (interpreter floor)", (py, "-c", "pass")),
        Command("import satchel", (py, "-c", "import satchel"), target="≤ 0.2 s", limit=0.2),
        Command(HELP, (script, "--help"), target="< 0.3 s", limit=0.3),
        *with_plugin,
        Command("satchel plugins", (script, "plugins")),
        Command(
            "import satchel; satchel.open (loads satchel.app)", (py, "-c", "import satchel; satchel.open")
        ),
        Command("import ai_edge_litert.interpreter", (py, "-c", "import ai_edge_litert.interpreter")),
        Command("import onnxruntime", (py, "-c", "import onnxruntime")),
        Command("import tensorflow", (py, "-c", "import tensorflow"), heavy=True),
    ]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def _once(argv: tuple[str, ...], env: dict[str, str], path: str = "") -> float:
    """Wall seconds of one run; NaN when the command fails (e.g. a runtime that is not installed)."""
    if path:
        env = {**env, "PYTHONPATH": os.pathsep.join(p for p in (path, env.get("PYTHONPATH", "")) if p)}
    t0 = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    seconds = time.perf_counter() - t0
    return seconds if proc.returncode == 0 else float("nan")


def measure(cmds: list[Command], rounds: int, heavy_rounds: int, warm_heavy: bool) -> dict[str, list[float]]:
    """Seconds per command over alternating rounds (heavy ones only in the first ``heavy_rounds``)."""
    env = _env()
    for c in cmds:
        if not c.heavy or warm_heavy:
            _once(c.argv, env, c.path)
    times: dict[str, list[float]] = {c.label: [] for c in cmds}
    for r in range(rounds):
        for c in cmds:
            if c.heavy and r >= heavy_rounds:
                continue
            times[c.label].append(_once(c.argv, env, c.path))
    return times


@dataclass(frozen=True)
class ImportProfile:
    """What ``python -X importtime`` says about one command."""

    modules: frozenset[str]
    total_us: int
    by_package: tuple[tuple[str, int], ...]  # top-level package -> summed self time (µs), largest first
    by_module: tuple[tuple[str, int], ...]  # single modules by self time, largest first


def import_profile(argv: tuple[str, ...]) -> ImportProfile:
    """Run ``argv`` (a console script or ``-c`` code) under ``-X importtime`` and summarise it.

    Self times are summed per top-level package: modules loaded with ``importlib.import_module``
    (every plugin entry point) have no line of their own, so cumulative times would miss them.
    """
    proc = subprocess.run(
        (sys.executable, "-X", "importtime", *argv), capture_output=True, text=True, env=_env(), check=False
    )
    packages: dict[str, int] = defaultdict(int)
    modules: dict[str, int] = {}
    for line in proc.stderr.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        self_us, name = int(m.group(1)), m.group(4)
        modules[name] = self_us
        packages[name.split(".")[0]] += self_us
    return ImportProfile(
        frozenset(modules),
        sum(modules.values()),
        tuple(sorted(packages.items(), key=lambda kv: -kv[1])),
        tuple(sorted(modules.items(), key=lambda kv: -kv[1])),
    )


def _ms(us: int) -> str:
    return f"{us / 1000:.1f} ms"


def _heavy_loaded(profile: ImportProfile) -> list[str]:
    return [h for h in HEAVY if h in profile.modules or any(m.startswith(h + ".") for m in profile.modules)]


def run(ctx: Context) -> Section:
    with tempfile.TemporaryDirectory(prefix="satchel-bench-site-") as site:
        cmds = commands(install_tutorial_plugin(Path(site)))
        rounds = ctx.size(15, 3)
        times = measure(cmds, rounds, heavy_rounds=ctx.size(5, 1), warm_heavy=not ctx.quick)
    median = {k: statistics.median(v) if v else float("nan") for k, v in times.items()}
    fastest = {k: min(v) if v else float("nan") for k, v in times.items()}
    floor = fastest[cmds[0].label]
    tf = median[cmds[-1].label]
    table = TableBuilder(
        "Start-up: wall seconds per fresh process (median and min of alternating rounds)",
        ("command", "runs", "median s", "min s", "min − floor s", "median vs import tensorflow", "target"),
    )
    for c in cmds:
        v, med = times[c.label], median[c.label]
        above = fastest[c.label] - floor if c is not cmds[0] else float("nan")
        vs_tf = f"{med / tf:.3f}x" if med == med and tf == tf else "n/a"
        target = ""
        if c.limit is not None:
            target = f"{c.target} {'✓' if med <= c.limit else '✗'}" if med == med else f"{c.target} n/a"
        if c.label == HELP_WITH_PLUGIN and med == med:
            extra = med - median[HELP]
            target = f"{c.target}: {extra:+.3f} s {'✓' if extra <= 0.05 else '✗'}"
        table.add(c.label, len(v), med, fastest[c.label], above, vs_tf, target)
    help_profile = import_profile((console_script(), "--help"))
    heavy = _heavy_loaded(help_profile)
    table.notes += [
        "Each run is a new process started by `subprocess.run`; `min − floor` subtracts the fastest "
        "`python -c pass`, leaving what the command itself costs. n/a means the command failed "
        "(e.g. the runtime is not installed). "
        f"{rounds} rounds ({ctx.size(5, 1)} for tensorflow), each command warmed once before "
        "(tensorflow only in full runs).",
        "`satchel --help` and `satchel plugins` are the installed console script, run directly (not through "
        "a pyenv/asdf shell shim, which adds its own start-up); they discover every installed plugin through "
        f"entry points: {_plugin_names()}.",
        f"`python -X importtime satchel --help`: {len(help_profile.modules)} modules, "
        f"{_ms(help_profile.total_us)} of imports (self times summed; the interpreter's own start-up "
        "imports included). By package: "
        + ", ".join(f"{name} {_ms(us)}" for name, us in help_profile.by_package[:8])
        + ". Largest single modules: "
        + ", ".join(f"{name} {_ms(us)}" for name, us in help_profile.by_module[:5])
        + ". "
        + (
            f"Heavy modules loaded: {', '.join(heavy)}."
            if heavy
            else f"None of {', '.join(HEAVY)} is loaded."
        ),
        "`satchel plugins` imports every plugin to list and validate what it registers; `satchel --help` "
        "imports only the modules of the `satchel.cli` entry-point group (plugin commands), never the "
        "component plugins. The tutorial-plugin row has docs/plugins.md's quiz plugin (which imports "
        "pydantic and numpy through satchel.plugin at the top) installed as a distribution on PYTHONPATH.",
    ]
    plot = _plot(ctx, cmds, times)
    return Section("startup", "Start-up time", __doc__ or "", (table.build(),), (plot,))


def _plugin_names() -> str:
    from importlib import metadata

    names = sorted(
        f"{ep.name}" + ("" if ep.dist is None or ep.dist.name == "satchel" else f" ({ep.dist.name})")
        for ep in metadata.entry_points(group="satchel")
    )
    return ", ".join(names) or "none"


def _plot(ctx: Context, cmds: list[Command], times: dict[str, list[float]]) -> Path:
    plt = pyplot()
    labels = [c.label.replace(" (interpreter floor)", "").replace(" (loads satchel.app)", "") for c in cmds]
    medians = [statistics.median(times[c.label]) if times[c.label] else float("nan") for c in cmds]
    mins = [min(times[c.label]) if times[c.label] else float("nan") for c in cmds]
    colors = [
        "#9e9e9e" if i == 0 else "#1f77b4" if c.label.startswith(("import satchel", "satchel")) else "#d62728"
        for i, c in enumerate(cmds)
    ]
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(cmds) + 1.2))
    y = list(range(len(cmds)))[::-1]
    ax.barh(y, medians, color=colors)
    ax.scatter(mins, y, color="black", marker="|", s=120, zorder=3, label="min")
    for yi, med in zip(y, medians):
        if med == med:
            ax.text(med * 1.08, yi, f"{med:.3g} s", va="center", fontsize=8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("seconds per fresh process (median; log scale)")
    ax.set_xlim(right=max(m for m in medians if m == m) * 3)
    ax.axvline(0.2, color="green", linestyle=":", linewidth=1, label="0.2 s")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title("satchel start-up vs the ML runtimes (blue: satchel, red: runtimes)", fontsize=9)
    return save_plot(fig, ctx, "startup")


__all__ = ["commands", "console_script", "import_profile", "run"]
