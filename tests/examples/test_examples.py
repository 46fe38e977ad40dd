"""The example apps and ``satchel demo`` run end to end in a subprocess, as a newcomer would run them."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

import satchel_plugins.demo
from satchel.cli import cli
from satchel.testing import isolated_registry

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def run(args: list[str], cwd: Path, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SATCHEL_EXAMPLE_KEY"}
    env["COLUMNS"] = "140"
    if key is not None:
        env["SATCHEL_EXAMPLE_KEY"] = key
    done = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def example(name: str, data: Path, key: str | None = None) -> str:
    return run([str(EXAMPLES / name / "app.py"), "--data-dir", str(data)], data.parent, key).stdout


def test_habit_tracker_generates_a_throwaway_key_and_decides_each_habit(tmp_path):
    out = example("habit_tracker", tmp_path / "data")
    assert "SATCHEL_EXAMPLE_KEY is not set: generated a throwaway master key" in out
    assert re.search(r"recorded \d+ events for ada \(0 already stored\)", out)
    assert "trained model v1" in out
    decisions = re.findall(r"^habit_\d: (remind|nudge|quiet) \(", out, re.M)
    assert len(decisions) == 3, out
    assert not any(p.name.startswith("master-key") for p in (tmp_path / "data").rglob("*"))


def test_vocabulary_app_keeps_its_data_between_runs_with_a_key(tmp_path):
    key = base64.b64encode(os.urandom(32)).decode()
    first = example("vocabulary_app", tmp_path / "data", key)
    assert "generated" not in first
    assert re.search(r"imported \d+ reviews for noor \(0 already stored\)", first)
    assert re.search(r"^\d+ of 50 words are due now", first, re.M)
    assert re.findall(r"^word_\d+: review_now \(P\(recall\) 0\.\d\d", first, re.M)
    assert "manifest.json" in first and "model.onnx" in first
    second = example("vocabulary_app", tmp_path / "data", key)
    assert re.search(r"imported 0 reviews for noor \(\d+ already stored\)", second)
    assert "trained model v2" in second


def test_grading_assistant_suggests_scores_and_picks_answers_to_read(tmp_path):
    out = example("grading_assistant", tmp_path / "data")
    assert "recorded 120 answers and 60 grades" in out
    match = re.search(r"60 answers ungraded: \d+ need the teacher, .*; (\d+) suggestions match", out)
    assert match and int(match.group(1)) >= 40, out
    lines = re.findall(r"^q\d+_a\d+: (needs_review|suggest) \(suggested [0-3]/3, confidence", out, re.M)
    assert len(lines) == 5, out


def test_demo_runs_end_to_end_and_keeps_nothing_readable(tmp_path):
    data = tmp_path / "kept"
    code = "from satchel_plugins.demo import demo; demo()"
    out = run(["-c", code, "--data-dir", str(data)], tmp_path).stdout
    for header in (
        "1. Habit tracker",
        "2. Vocabulary app",
        "3. Grading assistant",
        "4. Learner rights",
        "5. Look inside the data directory",
        "6. Privacy audit",
    ):
        assert header in out
    assert re.search(r"✗ refused\s+chloe\s+consent by 8-12, self: a learner in age band 8-12 cannot", out)
    assert re.search(r"✓ consent\s+chloe\s+8-12, guardian", out)
    assert re.search(r"✗ refused\s+elena\s+recording before any consent", out)
    assert re.search(r"✗ refused\s+bruno\s+predicting after the withdrawal", out)
    assert re.search(r"● sealed\s+dmitri\s+\d+ events imported from an Anki log", out)
    assert re.search(r"● sealed\s+mr_hughes\s+\d+ events imported from a gradebook CSV", out)
    for learner in ("amara", "bruno", "chloe"):
        row = rf"│ {learner}\s+│ \w+\s+│ habit_\d │ [01]\.\d\d\s+│ (remind|nudge|quiet)"
        decisions = re.findall(row, out)
        assert len(decisions) == 3, out
        assert re.search(
            rf"{learner}\s+━+ ✓ \d+ samples, held-out auc 0\.\d\d, (model|kept what served), v1 "
            "sealed",
            out,
        )
    for learner in ("dmitri", "elena", "farah"):
        assert re.search(rf"│ {learner}\s+│ \d+ of 40\s+│", out)
    for teacher in ("ms_garcia", "mr_hughes"):
        assert re.search(rf"│ {teacher}\s+│ 0-[13]\s+│ \d+ of 56", out)
    assert "✓ no plaintext match" in out
    assert len(re.findall(r"audit log ✓ verified, \d+ entries", out)) == 3
    assert "1 minor(s), 1 with a guardian's consent" in out
    assert "INFO: Pipeline 'grading' reads free text" in out
    assert "Done in" in out
    assert (data / "habit-tracker" / "satchel.db").exists()
    assert not any("key" in p.name for p in data.rglob("*")), "no key material inside the data directory"


def test_demo_is_a_cli_command_and_refuses_a_used_data_dir(tmp_path):
    registry = isolated_registry({"demo": satchel_plugins.demo})
    shown = CliRunner().invoke(cli, ["demo", "--help"], obj={"registry": registry})
    assert shown.exit_code == 0 and "--data-dir" in shown.output
    (tmp_path / "old.txt").write_text("x")
    refused = CliRunner().invoke(cli, ["demo", "--data-dir", str(tmp_path)], obj={"registry": registry})
    assert refused.exit_code == 2 and "is not empty" in refused.output
