"""Runners as real processes: two at once, SIGTERM, SIGKILL, and `run` between passes."""

import signal
import time
from collections import Counter

from runner_support import enrol, history, spawn, summaries

from satchel.app import Pseudonym
from satchel.training.runner import INTERRUPTED, NOT_STARTED


def wait_for(stream, text):
    """Read ``stream`` line by line until a line contains ``text``; returns what was read."""
    seen = []
    for line in stream:
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"{text!r} never appeared in:\n{''.join(seen)}")


def test_two_runners_never_train_a_model_twice_and_lose_no_event(
    make_app, config_path, tmp_path, monkeypatch
):
    app = make_app()
    learners = [enrol(app, s) for s in ("ada", "bob", "cy", "dee")]
    trace = tmp_path / "trace.txt"
    monkeypatch.setenv("SATCHEL_TEST_TRACE", str(trace))
    procs = [spawn("tick", "--json", "--epochs", "1500", "-c", str(config_path)) for _ in range(2)]
    before = app.events.count(learners[0])
    recorded = app.record("ada", history(10, habit="piano"))  # meanwhile the app keeps recording
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    trained = [[t["subject"] for t in summaries(out)[0]["trained"]] for out, _ in outs]
    assert sorted(trained[0] + trained[1]) == sorted(learners)  # each model once, by one runner or the other
    refusals = [" ".join(s["reasons"]) for out, _ in outs for s in summaries(out)[0]["skipped"]]
    assert len(refusals) == len(learners)  # the other runner skipped it: held by the lock, or just trained
    # the holder's pid is named unless it let go (or had not written it yet) as the lock was inspected
    assert all(r.startswith("locked by another runner") or "minimum interval" in r for r in refusals), (
        refusals
    )

    completed = [e.fields["subject"] for e in app.audit_log.entries() if e.action == "training.completed"]
    assert Counter(completed) == Counter(learners)
    assert all(app.load_checkpoint(Pseudonym(s), "habits").version == 1 for s in learners)
    marks = Counter(tuple(line.split()[:2]) for line in trace.read_text().splitlines())
    assert marks == Counter({(mark, s): 1 for mark in ("start", "end") for s in learners})  # one try each
    assert recorded.stored == len(history(10)) and app.events.count(learners[0]) == before + recorded.stored
    assert app.verify_audit_log().ok


def test_sigterm_during_a_pass_abandons_the_training_and_exits_130(make_app, config_path):
    app = make_app()
    learners = [enrol(app, s, days=120) for s in ("ada", "bob", "cy")]  # enough to fit a candidate
    proc = spawn("tick", "--json", "-v", "--epochs", "1000000", "-c", str(config_path))
    wait_for(proc.stderr, "training subject=")
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert "SIGTERM received" in err
    summary = summaries(out)[0]
    assert summary["interrupted"] and summary["trained"] == [] and summary["failed"] == []
    assert sorted(s["reasons"][0] for s in summary["skipped"]) == sorted([INTERRUPTED, *[NOT_STARTED] * 2])
    assert all(app.load_checkpoint(Pseudonym(s), "habits") is None for s in learners)  # nothing partial saved
    failed = [e.fields["error"] for e in app.audit_log.entries() if e.action == "training.failed"]
    assert failed == ["Interrupted"]
    assert app.verify_audit_log().ok


def test_sigkill_during_passes_leaves_every_model_at_its_previous_or_new_version(make_app, config_path):
    app = make_app('min_interval = "0s", min_new_samples = 0')
    # enough history for promotion's held-out check, so that every first model serves
    learners = [enrol(app, s, days=120) for s in ("ada", "bob", "cy", "dee", "eve")]
    for s in learners:
        app.train(Pseudonym(s), "habits")
    versions = dict.fromkeys(learners, 1)
    for delay in (0.0, 0.01, 0.03):
        proc = spawn("tick", "-v", "-c", str(config_path))
        wait_for(proc.stderr, "trained subject=")
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        now = {s: app.load_checkpoint(Pseudonym(s), "habits").version for s in learners}  # all readable
        assert all(now[s] in (versions[s], versions[s] + 1) for s in learners), (versions, now)
        assert sum(now.values()) > sum(versions.values())
        versions = now
    assert app.verify_audit_log().ok
    assert all(app.predict(Pseudonym(s), "habits").personalized for s in learners)


def test_run_exits_0_when_stopped_between_passes(make_app, config_path):
    app = make_app()
    ada = enrol(app, "ada")
    proc = spawn("run", "--json", "--interval", "1h", "-c", str(config_path))
    first = proc.stdout.readline()
    proc.send_signal(signal.SIGTERM)  # the pass has ended: the runner is waiting for the next one
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert [t["subject"] for t in summaries(first)[0]["trained"]] == [ada] and summaries(out) == []
