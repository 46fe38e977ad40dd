"""`python -m benchmarks --quick` regenerates every table and plot from a fresh process (no timings checked)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = ("startup", "backends", "learner", "data", "fleet", "habit", "language", "rubric")
#: sections with nothing to measure without a data set in ../shared/data (benchmarks/report.py's paths)
SHARED_DATA = ROOT.parent / "shared" / "data"
NEEDS_DATA = {"rubric": SHARED_DATA / "semeval2013_2way" / "semeval2013_task7_2way_flat.csv"}


@pytest.mark.slow
def test_quick_run_writes_every_section_table_and_plot(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = (tmp_path / "BENCHMARKS.md").read_text(encoding="utf-8")
    assert "--quick smoke run" in report and "Machine:" in report and "Versions:" in report
    plots = tmp_path / "docs" / "benchmarks"
    for name in SECTIONS:
        section = json.loads((plots / f"{name}.json").read_text(encoding="utf-8"))
        assert section["title"] in report, name
        if name in NEEDS_DATA and not NEEDS_DATA[name].exists():
            assert not section["tables"] and section["intro"].startswith("Skipped:"), name
            assert section["intro"] in report
            continue
        assert section["tables"], f"section {name} has no table"
        for table in section["tables"]:
            assert table["rows"], f"{name}: table '{table['title']}' is empty"
            assert all(len(row) == len(table["columns"]) for row in table["rows"])
            assert f"### {table['title']}" in report
        for plot in section["plots"]:
            assert (plots / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", plot
            assert f"docs/benchmarks/{plot}" in report
    assert f"`{Path(sys.executable).name} -m benchmarks --quick --only fleet`" in report


def test_unknown_section_is_a_clear_error(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--only", "fleet,speed", "--out", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    assert "unknown section(s) speed" in done.stderr and "choose from startup" in done.stderr
    assert not (tmp_path / "BENCHMARKS.md").exists()
