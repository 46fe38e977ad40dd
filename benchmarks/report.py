"""Records every benchmark returns, the environment they ran in, and their Markdown rendering."""

from __future__ import annotations

import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
LOOP_CSV = SHARED_DATA / "loop_habits_sample" / "Checkmarks.csv"
SEMEVAL_CSV = SHARED_DATA / "semeval2013_2way" / "semeval2013_task7_2way_flat.csv"
_VERSIONS = (
    "satchel",
    "numpy",
    "cryptography",
    "tensorflow-cpu",
    "ai-edge-litert",
    "onnxruntime-training-cpu",
    "onnx",
    "fsrs",
    "matplotlib",
)


@dataclass(frozen=True)
class Context:
    """What a benchmark module gets: run size, where plots go, a shared compile cache."""

    quick: bool
    plot_dir: Path
    cache_dir: Path
    command: str
    huge: bool = False  # opt-in sizes that take long to set up (the 100,000-learner fleet)

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full


@dataclass(frozen=True)
class Table:
    """One Markdown table; ``notes`` are printed under it (what was compared, how to read it)."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Section:
    """The output of one benchmark module: an intro, tables, and PNG plots under the plot dir."""

    name: str
    title: str
    intro: str
    tables: tuple[Table, ...]
    plots: tuple[Path, ...] = ()
    seconds: float = 0.0


@dataclass
class TableBuilder:
    """Collects rows, formatting numbers consistently."""

    title: str
    columns: Sequence[str]
    notes: list[str] = field(default_factory=list)
    rows: list[tuple[str, ...]] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{self.title}: {len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(tuple(fmt(c) for c in cells))

    def build(self) -> Table:
        return Table(self.title, tuple(self.columns), tuple(self.rows), tuple(self.notes))


def fmt(value: object) -> str:
    """Numbers with three significant digits (thousands separated), everything else as ``str``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if value != value:
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def ratio(ours: float, theirs: float, target: float | None = None) -> str:
    """``1.07x`` and, with a target, ``✓``/``✗`` against it."""
    text = f"{ours / theirs:.2f}x"
    if target is not None:
        text += f" {'✓' if ours / theirs <= target else '✗'} (≤{target}x)"
    return text


def best_of(fn: Callable[[], object], repeat: int, rounds: int) -> float:
    """Best mean seconds per call over ``rounds`` rounds of ``repeat`` calls (after one warm-up)."""
    fn()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(repeat):
            fn()
        best = min(best, (time.perf_counter() - t0) / repeat)
    return best


def paired(
    ours: Callable[[], object], theirs: Callable[[], object], repeat: int, rounds: int
) -> tuple[float, float]:
    """Best mean seconds per call of each, alternating rounds so both see the same machine load."""
    best = [float("inf"), float("inf")]
    ours(), theirs()
    for _ in range(rounds):
        for i, fn in enumerate((ours, theirs)):
            t0 = time.perf_counter()
            for _ in range(repeat):
                fn()
            best[i] = min(best[i], (time.perf_counter() - t0) / repeat)
    return best[0], best[1]


def latencies(fn: Callable[[], object], n: int) -> list[float]:
    """Seconds of ``n`` single calls (after ten warm-up calls)."""
    for _ in range(10):
        fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def percentile(samples: Sequence[float], q: float) -> float:
    return (
        statistics.quantiles(samples, n=1000, method="inclusive")[int(q * 10) - 1]
        if q < 100
        else max(samples)
    )


def machine() -> str:
    """CPU model, usable cores and memory of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        import psutil

        memory = f", {psutil.virtual_memory().total / 2**30:.0f} GiB RAM"
    except ImportError:  # pragma: no cover - psutil is a dependency
        memory = ""
    return f"{cpu}, {cores} cores{memory}, {platform.system()} {platform.release()}"


def versions() -> str:
    found = [f"Python {platform.python_version()}"]
    for name in _VERSIONS:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(found)


def command_line(argv: Sequence[str]) -> str:
    return shlex.join([Path(sys.executable).name, "-m", "benchmarks", *argv])


def render(sections: Sequence[Section], *, quick: bool, command: str, out_dir: Path) -> str:
    """The whole BENCHMARKS.md."""
    env = f"Machine: {machine()}. Versions: {versions()}."
    lines = [
        "# satchel benchmarks",
        "",
        f"Generated by `{command}` on {time.strftime('%Y-%m-%d')}"
        + (" (**--quick smoke run: sizes are reduced, numbers are not representative**)." if quick else "."),
        "Every performance ratio compares satchel with the bare runtime or a plaintext peer **in the same"
        " process and run**, alternating rounds so both see the same machine load; every quality table scores"
        " satchel's models and their baselines on the same held-out data. No test asserts on these timings.",
        "",
        env,
        "",
        "| section | seconds |",
        "|---|---|",
        *(f"| [{s.title}](#{_anchor(s.title)}) | {s.seconds:.0f} |" for s in sections),
        "",
    ]
    for section in sections:
        lines += [f"## {section.title}", "", section.intro.strip(), ""]
        for table in section.tables:
            lines += [f"### {table.title}", "", _markdown(table), ""]
            lines += [f"- {note}" for note in table.notes]
            lines += [f"- {env} Command: `{command} --only {section.name}`.", ""]
        for plot in section.plots:
            rel = os.path.relpath(plot, out_dir)
            lines += [f"![{plot.stem}]({rel})", ""]
    return "\n".join(lines)


def _markdown(table: Table) -> str:
    numeric = [all(_numeric(row[i]) for row in table.rows) for i in range(len(table.columns))]
    head = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "|".join("---:" if n else "---" for n in numeric) + "|"
    body = ["| " + " | ".join(row) + " |" for row in table.rows]
    return "\n".join([head, rule, *body])


def _numeric(cell: str) -> bool:
    return (
        bool(cell) and cell.replace(",", "").replace(".", "").replace("-", "").replace("x", "")[:1].isdigit()
    )


def _anchor(title: str) -> str:
    keep = "".join(c for c in title.lower() if c.isalnum() or c in " -")
    return keep.replace(" ", "-")


def save_plot(fig: object, ctx: Context, name: str) -> Path:
    """Save a matplotlib figure as ``<plot dir>/<name>.png`` and close it."""
    import matplotlib.pyplot as plt

    ctx.plot_dir.mkdir(parents=True, exist_ok=True)
    path = ctx.plot_dir / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return path


def pyplot():  # type: ignore[no-untyped-def]
    """matplotlib's pyplot on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
