"""SIGKILL soak: kill a process doing record/ingest/train/erase/rotate at random moments, then check
that nothing acknowledged was lost and nothing is corrupt.

    python tests/crash_soak.py --runs 1000 [--dir DIR] [--seed 0]

Each run starts a child that opens the app and performs random operations, journaling ``start`` and
``done`` for each (line-buffered, so a SIGKILL loses neither); the parent kills it after a random
delay, reopens the app and requires: it opens; every learner's events and consent history read
without error; every acknowledged batch is wholly present (the interrupted one wholly present or
wholly absent, never partly); an acknowledged erasure holds; checkpoints load; the audit log
verifies. Exits non-zero and prints the first violation.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

CONFIG = """
[app]
id = "crash-soak"
data_dir = "{root}/data"
key_dir = "{root}/keys"

[privacy]
key_provider = "insecure_file"
age_of_digital_consent = 13

[pipelines.habits]
model = {{ name = "habit", options = {{ min_samples = 10 }} }}
purposes = ["habit_reminders"]
backend = "onnx"
epochs = 2
"""
NOW = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
LEARNERS = 3


def open_app(root: Path) -> Any:
    import satchel
    from satchel.testing import isolated_registry

    return satchel.open(root / "satchel.toml", registry=isolated_registry(), clock=lambda: NOW)


def events(run: int, op: int, n: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"r{run}-o{op}-{k}",
            "type": "habit_completed",
            "time": (NOW - timedelta(days=k % 30, minutes=op)).isoformat(),
            "data": {"habit": "reading"},
        }
        for k in range(n)
    ]


# ---------------------------------------------------------------------- child


def child(root: Path, run: int, state: dict[str, Any]) -> None:
    from satchel.errors import SchedulerError
    from satchel.privacy.key_provider import rotate_master_key

    rng = random.Random(run)
    journal = (root / "journal.jsonl").open("a", buffering=1)
    app = open_app(root)
    print("ready", flush=True)
    for op in range(10_000):
        subject = rng.choice(state["subjects"])
        kind = rng.choices(["record", "ingest", "train", "erase", "rotate"], [40, 20, 15, 3, 3])[0]
        if subject not in state["granted"]:
            kind = "grant"
        entry = {"run": run, "op": op, "kind": kind, "subject": subject, "ids": []}
        if kind in ("record", "ingest"):
            batch = events(run, op, rng.randint(1, 25))
            entry["ids"] = [e["id"] for e in batch]
        journal.write(json.dumps({**entry, "phase": "start"}) + "\n")
        if kind == "grant":
            app.consent.grant(
                subject,
                purposes=["habit_reminders"],
                notice="n",
                policy_version="1",
                actor="self",
                age_band="18+",
                method="soak",
            )
            state["granted"].append(subject)
        elif kind == "record":
            app.record(subject, batch)
        elif kind == "ingest":
            path = root / f"batch-{os.getpid()}.jsonl"
            path.write_text("\n".join(json.dumps({**e, "subject": subject}) for e in batch))
            app.ingest(path)
        elif kind == "train":
            try:
                app.train(subject, "habits")
            except SchedulerError:
                pass
        elif kind == "erase":
            app.erase(subject)
        else:
            rotation = rotate_master_key(app.vault, app.key_provider)
            app.audit_log.append(
                "keys.rotated",
                old_key=rotation.old_key_id,
                new_key=rotation.new_key_id,
                subjects=rotation.subjects,
            )
        journal.write(json.dumps({**entry, "phase": "done"}) + "\n")
        if kind == "erase":
            return  # the parent renames the erased learner before the next run


# ---------------------------------------------------------------------- parent


def check(root: Path, state: dict[str, Any], run: int) -> str | None:
    """Verify the data dir after a kill; update ``state``; return a violation or None."""
    from satchel.errors import SatchelError

    lines = [json.loads(x) for x in (root / "journal.jsonl").read_text().splitlines() if x.strip()]
    mine = [x for x in lines if x["run"] == run]
    done = {x["op"] for x in mine if x["phase"] == "done"}
    pending = [x for x in mine if x["phase"] == "start" and x["op"] not in done]
    for x in mine:
        if x["phase"] == "start" and x["op"] in done and x["ids"]:
            state["acked"].setdefault(x["subject"], []).extend(x["ids"])
    try:
        app = open_app(root)
    except SatchelError as error:
        return f"run {run}: the app does not open after the kill: {error}"
    try:
        for x in pending:
            if x["kind"] == "erase":
                if app.vault.is_erased(app.pseudonym(x["subject"])):
                    _erased(state, x["subject"])
                else:  # finish the interrupted erasure, as a user would
                    app.erase(x["subject"])
                    _erased(state, x["subject"])
            if x["kind"] == "grant" and app.consent.history(x["subject"]):
                state["granted"].append(x["subject"])
        for x in mine:
            if x["phase"] == "done" and x["kind"] == "grant":
                state["granted"].append(x["subject"])
            if x["phase"] == "done" and x["kind"] == "erase":
                _erased(state, x["subject"])
        for subject in state["subjects"]:
            pseudo = app.pseudonym(subject)
            app.consent.history(subject)
            if pseudo not in app.vault.subjects():
                continue
            stored = {e.id for e in app.events.read(pseudo)}
            lost = set(state["acked"].get(subject, ())) - stored
            if lost:
                return f"run {run}: {len(lost)} acknowledged events of {subject} are missing"
            for x in pending:
                if x["subject"] == subject and x["ids"]:
                    present = stored & set(x["ids"])
                    if present and present != set(x["ids"]):
                        return f"run {run}: the interrupted batch of {subject} is partly stored"
                    state["acked"].setdefault(subject, []).extend(present)
            app.load_checkpoint(subject, "habits")
        verification = app.verify_audit_log()
        if not verification.ok:
            return f"run {run}: audit log: {verification.problem}"
    except SatchelError as error:
        return f"run {run}: {type(error).__name__}: {error}"
    finally:
        app.close()
    return None


def _erased(state: dict[str, Any], subject: str) -> None:
    if subject in state["subjects"]:
        state["subjects"][state["subjects"].index(subject)] = f"{subject.split('~')[0]}~{state['next']}"
        state["next"] += 1
        state["acked"].pop(subject, None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default: a fresh temp dir)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-delay", type=float, default=2.0, help="seconds after 'ready' to kill within")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    import tempfile

    root = (args.dir or Path(tempfile.mkdtemp(prefix="satchel-crash-soak-"))).resolve()
    state_file = root / "state.json"
    if args.child is not None:
        child(root, args.child, json.loads(state_file.read_text()))
        return 0
    root.mkdir(parents=True, exist_ok=True)
    (root / "satchel.toml").write_text(CONFIG.format(root=root.as_posix()))
    state: dict[str, Any] = {
        "subjects": [f"L{i}~0" for i in range(LEARNERS)],
        "granted": [],
        "acked": {},
        "next": 1,
    }
    rng = random.Random(args.seed)
    for run in range(args.runs):
        state_file.write_text(json.dumps(state))
        proc = subprocess.Popen(
            [sys.executable, __file__, "--dir", str(root), "--child", str(run)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        ready = proc.stdout.readline().strip() == "ready"
        if ready:
            time.sleep(rng.uniform(0, args.max_delay))
        crashed = proc.poll() not in (None, 0)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if not ready or crashed:
            print(f"run {run}: the child failed on its own (see its traceback above)", file=sys.stderr)
            return 1
        problem = check(root, state, run)
        if problem:
            print(problem, file=sys.stderr)
            return 1
        if (run + 1) % 50 == 0:
            print(f"{run + 1} SIGKILLs so far: all checks passed", flush=True)
    print(f"{args.runs} SIGKILLs: nothing acknowledged lost, nothing corrupt ({root})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
