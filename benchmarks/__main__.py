"""Run satchel's benchmarks and write BENCHMARKS.md plus PNG plots.

    python -m benchmarks                 # everything; rewrites BENCHMARKS.md and docs/benchmarks/*.png
    python -m benchmarks --only fleet    # one section; the others keep their last results
    python -m benchmarks --quick         # smoke run with small sizes, into build/bench-quick/

Each section's results are also kept as JSON beside its plots, so BENCHMARKS.md is always rendered
from the latest run of every section.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.report import ROOT, Context, Section, Table, command_line, render

#: section name -> module with ``run(ctx: Context) -> Section``, in BENCHMARKS.md order
SECTIONS = {
    "startup": "benchmarks.bench_startup",
    "backends": "benchmarks.bench_backends",
    "learner": "benchmarks.bench_learner",
    "data": "benchmarks.bench_data",
    "fleet": "benchmarks.bench_fleet",
    "habit": "benchmarks.bench_quality_habit",
    "language": "benchmarks.bench_quality_language",
    "rubric": "benchmarks.bench_quality_rubric",
    "export": "benchmarks.bench_export",
    "federated": "benchmarks.bench_federated",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run, not numbers to quote")
    parser.add_argument("--only", default="", help=f"comma-separated sections: {', '.join(SECTIONS)}")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where BENCHMARKS.md goes (default: the repository, or build/bench-quick with --quick)",
    )
    parser.add_argument(
        "--huge",
        action="store_true",
        help="also the 100,000-learner fleet pass (setup takes long, ~6 GB in RAM)",
    )
    parser.add_argument("--cache", type=Path, default=None, help="model compile cache (default: a temp dir)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    out = (args.out or (ROOT / "build" / "bench-quick" if args.quick else ROOT)).resolve()
    plot_dir = out / "docs" / "benchmarks"
    plot_dir.mkdir(parents=True, exist_ok=True)
    command = command_line([*(["--quick"] if args.quick else []), *(["--huge"] if args.huge else [])])

    from rich.console import Console

    console = Console(width=120)
    with tempfile.TemporaryDirectory(prefix="satchel-bench-") as tmp:
        ctx = Context(
            args.quick, plot_dir, args.cache or Path(tmp) / "compile-cache", command, huge=args.huge
        )
        for name in names:
            console.rule(f"[bold]{name}")
            started = time.perf_counter()
            section = importlib.import_module(SECTIONS[name]).run(ctx)
            section = dataclasses.replace(section, seconds=time.perf_counter() - started)
            for table in section.tables:
                _print(console, table)
            (plot_dir / f"{name}.json").write_text(json.dumps(_to_json(section), indent=1), encoding="utf-8")
    sections = [
        _from_json(json.loads(p.read_text(encoding="utf-8")), plot_dir)
        for name in SECTIONS
        if (p := plot_dir / f"{name}.json").exists()
    ]
    target = out / "BENCHMARKS.md"
    target.write_text(render(sections, quick=args.quick, command=command, out_dir=out), encoding="utf-8")
    console.print(f"wrote {target} ({len(sections)} sections) and plots under {plot_dir}")
    return 0


def _print(console: object, table: Table) -> None:
    from rich.table import Table as RichTable

    rich_table = RichTable(title=table.title, title_justify="left")
    for column in table.columns:
        rich_table.add_column(column)
    for row in table.rows:
        rich_table.add_row(*row)
    console.print(rich_table)  # type: ignore[attr-defined]
    for note in table.notes:
        console.print(f"  - {note}", highlight=False)  # type: ignore[attr-defined]


def _to_json(section: Section) -> dict[str, object]:
    data = dataclasses.asdict(section)
    data["plots"] = [p.name for p in section.plots]
    return data


def _from_json(data: dict, plot_dir: Path) -> Section:  # type: ignore[type-arg]
    tables = tuple(
        Table(t["title"], tuple(t["columns"]), tuple(tuple(r) for r in t["rows"]), tuple(t["notes"]))
        for t in data["tables"]
    )
    return Section(
        data["name"],
        data["title"],
        data["intro"],
        tables,
        tuple(plot_dir / p for p in data["plots"]),
        data["seconds"],
    )


if __name__ == "__main__":
    raise SystemExit(main())
