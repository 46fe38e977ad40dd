"""The runner in-process: scheduling, consent, priority, budgets, failures, locks, device state."""

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from runner_support import GOOD_DEVICE, UNPLUGGED, counting_reads, enrol, history

from satchel.app import Pseudonym
from satchel.cli.runner import run, status, tick
from satchel.errors import PrivacyError
from satchel.privacy.pseudonym import Pseudonymizer
from satchel.testing.conformance import PluginConformance
from satchel.training.locks import ModelLock
from satchel.training.runner import INTERRUPTED, NOT_STARTED, PASS_BUDGET, Runner, use_host_device_state


def cli(command, app, config_path, *args):
    result = CliRunner().invoke(command, [*args, "-c", str(config_path)], obj={"registry": app.registry})
    assert "Traceback" not in result.output
    return result


def by_subject(items):
    return {i.subject: i for i in items}


def test_nothing_trains_until_the_conditions_hold_then_exactly_the_due_models(make_app, config_path):
    app = make_app('require_charging = true, min_interval = "6h"')
    ada, bob = enrol(app, "ada"), enrol(app, "bob")
    cy = enrol(app, "cy", days=3)  # too few samples for the habit model
    dee = enrol(app, "dee")
    app.consent.withdraw("dee")
    host = use_host_device_state(app, UNPLUGGED)
    runner = Runner(app)

    first = runner.tick()
    assert first.trained == () and first.failed == () and first.exit_code == 0
    skipped = by_subject(first.skipped)
    assert skipped[ada].reasons == skipped[bob].reasons == ("not charging",)
    assert skipped[cy].reasons[0] == "not charging" and "the model needs 10" in skipped[cy].reasons[1]
    assert skipped[dee].reasons[0].startswith("no consent: ")
    assert not [e for e in app.audit_log.entries() if e.action == "consent.refused"]  # checked, not flooded

    rows = {r["subject"]: r for r in json.loads(cli(status, app, config_path, "--json").stdout)}
    assert rows[ada]["due"] is False and rows[ada]["reasons"] == ["not charging"]
    assert rows[ada]["version"] is None and rows[ada]["new_samples"] == rows[ada]["samples"] > 10
    assert rows[dee]["reasons"][0].startswith("no consent") and rows[dee]["samples"] is None

    host.update(GOOD_DEVICE)
    second = runner.tick()
    assert {t.subject: t.version for t in second.trained} == {ada: 1, bob: 1}
    assert set(by_subject(second.skipped)) == {cy, dee} and second.exit_code == 0

    third = cli(tick, app, config_path)  # right after: the minimum interval holds every model back
    assert third.exit_code == 0 and third.stdout.startswith("trained 0, skipped 4, failed 0")
    after = {s.subject: s for s in runner.status()}
    assert after[ada].version == 1 and after[ada].new_samples == 0 and not after[ada].due
    assert any("minimum interval 6.0h" in r for r in after[ada].reasons)
    assert (after[ada].next_eligible_at - after[ada].last_trained_at).total_seconds() == 6 * 3600
    text = cli(status, app, config_path)
    assert text.exit_code == 0 and "minimum interval" in text.stdout and "not charging" not in text.stdout


def test_a_failing_learner_does_not_stop_the_others(make_app, config_path):
    app = make_app('min_interval = "0s", min_new_samples = 0')
    ada, bob, cy = (enrol(app, s) for s in ("ada", "bob", "cy"))
    for s in (ada, bob, cy):
        app.train(Pseudonym(s), "habits")
    ckpt = app.config.data_dir / "checkpoints" / ada / "habits" / "v00000001.ckpt"
    blob = bytearray(ckpt.read_bytes())
    blob[len(blob) // 2] ^= 1
    ckpt.write_bytes(bytes(blob))

    result = cli(tick, app, config_path, "--json")
    assert result.exit_code == 3
    summary = json.loads(result.stdout)
    assert [(f["subject"], f["error"]) for f in summary["failed"]] == [(ada, "IntegrityError")]
    assert {t["subject"]: t["version"] for t in summary["trained"]} == {bob: 2, cy: 2}
    assert app.load_checkpoint(Pseudonym(cy), "habits").version == 2
    assert app.verify_audit_log().ok


class StoppedClock:
    """Stands in for the ``time`` module of :mod:`satchel.training.runner`: ``monotonic()`` moves only when told."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def __getattr__(self, name: str):
        return getattr(time, name)


def test_priority_time_budgets_and_stop(make_app, monkeypatch):
    app = make_app('min_interval = "0s", min_new_samples = 0, time_budget = "0.5s"')
    # enough history that a training fits a candidate (promotion's held-out check), ending 12 days ago
    ago = datetime.now(timezone.utc) - timedelta(days=12)
    ada = enrol(app, "ada", days=120, ending=ago)
    app.train(Pseudonym(ada), "habits")
    bob, cy = enrol(app, "bob", days=120, ending=ago), enrol(app, "cy", days=130, ending=ago)

    # never trained first (most samples first among them), then the rest
    assert [t.subject for t in Runner(app).tick().trained] == [cy, bob, ada]
    for s in (ada, bob, cy):  # 12 new days of two habits: enough new samples to judge a candidate on
        app.record(Pseudonym(s), history(12) + history(12, habit="piano"))

    # a training longer than the scheduler's budget fails and saves nothing; the others still run
    slow = Runner(app, epochs=50_000).tick()
    assert [(f.subject, f.error) for f in slow.failed] == [(s, "BudgetExceeded") for s in (cy, bob, ada)]
    assert slow.exit_code == 3 and app.load_checkpoint(Pseudonym(ada), "habits").version == 2

    # the pass budget ends the pass: the training in progress is abandoned, the rest wait for the next.
    # The runner's clock stands still until the first batch moves it past the budget, so the pass gets
    # to start a training however long planning takes on a loaded machine.
    clock, started = StoppedClock(), []

    def first_batch_spends_the_budget(model, progress):
        started.append(model.subject)
        clock.advance(1.0)

    with monkeypatch.context() as patch:
        patch.setattr("satchel.training.runner.time", clock)
        short = Runner(app, epochs=50_000, pass_budget_s=0.1, progress=first_batch_spends_the_budget).tick()
    assert started == [cy] and short.failed == () and {s.reasons for s in short.skipped} == {(PASS_BUDGET,)}

    # a stop request abandons the training in progress at its next batch
    seen = []

    def stop_at_once(model, progress):
        seen.append((model.subject, progress.pipeline, progress.subject))
        runner.stop()

    runner = Runner(app, progress=stop_at_once)
    stopped = runner.tick()
    assert stopped.interrupted and stopped.exit_code == 130 and stopped.trained == ()
    assert [s.reasons for s in stopped.skipped] == [(INTERRUPTED,), (NOT_STARTED,), (NOT_STARTED,)]
    assert seen == [(stopped.skipped[0].subject, "habits", stopped.skipped[0].subject)]
    versions = {s: app.load_checkpoint(Pseudonym(s), "habits").version for s in (ada, bob, cy)}
    assert versions == {ada: 2, bob: 1, cy: 1}
    failed = [e.fields["error"] for e in app.audit_log.entries() if e.action == "training.failed"]
    assert failed.count("BudgetExceeded") == 4 and failed.count("Interrupted") == 1
    assert app.verify_audit_log().ok


def test_a_locked_model_is_skipped_and_shown_in_status(make_app):
    app = make_app()
    ada, bob = enrol(app, "ada"), enrol(app, "bob")
    with ModelLock(app.config.data_dir, ada, "habits") as got:
        assert got
        summary = Runner(app).tick()
        held = f"locked by another runner (pid {os.getpid()})"
        assert [t.subject for t in summary.trained] == [bob]
        assert by_subject(summary.skipped)[ada].reasons == (held,)
        assert by_subject(Runner(app).status())[ada].reasons == (held,)
    assert [t.subject for t in Runner(app).tick().trained] == [ada]


def test_a_model_trained_elsewhere_since_the_plan_is_assessed_again_and_skipped(make_app):
    app, elsewhere = make_app(), make_app()  # another process, say
    # ada first (more new samples), with enough history that her training fits a candidate
    ada, bob = enrol(app, "ada", days=120), enrol(app, "bob")
    reads = counting_reads(app)

    def train_bob_elsewhere(model, progress):
        if elsewhere.load_checkpoint(Pseudonym(bob), "habits") is None:
            elsewhere.train(Pseudonym(bob), "habits")

    summary = Runner(app, progress=train_bob_elsewhere).tick()
    assert [t.subject for t in summary.trained] == [ada]
    assert any("minimum interval" in r for r in by_subject(summary.skipped)[bob].reasons)
    assert app.load_checkpoint(Pseudonym(bob), "habits").version == 1
    # each read once, to plan: App.train reuses ada's planned data, and bob's re-assessment under the
    # lock (a checkpoint was saved since the plan) recounts from it, as bob's events are unchanged
    assert sorted(reads) == sorted([ada, bob])


def test_shards_split_the_learners_and_trainers_in_memory_stay_bounded(make_app, config_path, monkeypatch):
    monkeypatch.setattr("satchel.app._serving.TRAINER_CACHE_SIZE", 2)
    app = make_app()
    learners = {enrol(app, s) for s in ("ada", "bob", "cy", "dee", "eve", "fay")}
    shards = [set(Runner(app, shard=(i, 2)).subjects()) for i in range(2)]
    assert shards[0] | shards[1] == learners and not shards[0] & shards[1]
    # The pseudonym key is random per app, so the split is too: tick the smaller shard through the CLI
    # and the larger one (>= 3 of the 6 learners) in-process, where only 2 trainers may stay in memory.
    small, big = sorted(range(2), key=lambda i: len(shards[i]))
    result = cli(tick, app, config_path, "--shard", f"{small + 1}/2", "--json")
    assert result.exit_code == 0
    assert {t["subject"] for t in json.loads(result.stdout)["trained"]} == shards[small]
    assert {t.subject for t in Runner(app, shard=(big, 2)).tick().trained} == shards[big]
    assert len(shards[big]) >= 3 and len(app._trainers) == 2  # a fleet pass keeps only the most recent
    assert "is not a shard" in cli(tick, app, config_path, "--shard", "3/2").output
    with pytest.raises(ValueError, match="0 <= index < count"):
        Runner(app, shard=(2, 2))


@pytest.mark.parametrize("count", [2, 3, 7])
def test_shards_partition_many_learners_evenly(make_app, monkeypatch, count):
    app = make_app()
    # 2,100 learners' pseudonyms under a fixed key: the split is deterministic, and as a keyed hash's.
    pseudonymize = Pseudonymizer(b"fixed test key, not a secret....")
    learners = tuple(Pseudonym(pseudonymize(f"learner-{i}")) for i in range(2100))
    monkeypatch.setattr(app, "subjects", lambda: learners)
    shards = [Runner(app, shard=(i, count)).subjects() for i in range(count)]
    assert sorted(s for shard in shards for s in shard) == sorted(learners)  # each in exactly one shard
    even = len(learners) / count
    assert all(0.85 * even <= len(shard) <= 1.15 * even for shard in shards), [len(s) for s in shards]


def test_model_lock_is_exclusive_across_processes_and_recovered_after_a_kill(tmp_path):
    pseudo = "0123456789abcdef" * 2
    a, b = ModelLock(tmp_path, pseudo, "habits"), ModelLock(tmp_path, pseudo, "habits")
    assert a.acquire() and not b.acquire() and b.holder() == os.getpid()
    a.release()
    assert a.holder() is None and b.acquire()
    b.release()
    holder = (
        "import pathlib, time\nfrom satchel.training.locks import ModelLock\n"
        f"assert ModelLock(pathlib.Path({str(tmp_path)!r}), {pseudo!r}, 'habits').acquire()\n"
        "print('held', flush=True)\ntime.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        assert not a.acquire() and a.holder() == proc.pid
    finally:
        proc.kill()
        proc.wait()
    assert a.path.read_text().strip() == str(proc.pid)  # the dead holder's pid is still written...
    assert a.holder() is None and a.acquire()  # ...but the kernel released its lock
    assert a.path.read_text().strip() == str(os.getpid())
    a.release()
    with pytest.raises(PrivacyError):
        ModelLock(tmp_path, "ada", "habits")  # lock files are named by pseudonym only


def test_host_device_state_wins_over_other_device_plugins(make_app):
    from satchel_plugins import device

    app = make_app()  # the built-in psutil plugin is registered too, but asked last (trylast)
    assert app.registry.device_state() == GOOD_DEVICE
    host = use_host_device_state(app, UNPLUGGED)
    assert use_host_device_state(app) is host and app.registry.device_state() == UNPLUGGED
    host.update(None)  # no host facts: the other plugins answer again (the fixture's, before psutil)
    assert app.registry.device_state() == GOOD_DEVICE
    assert "device" in [o.plugin for o in app.registry.implementations("satchel_device_state")]
    measured = device.read_device_state(cpu_sample_s=0.05)
    assert measured.source.startswith("psutil") and measured.unmetered_network is None
    assert isinstance(measured.idle, bool) and measured.charging in (True, False, None)
    assert measured.battery_percent is None or 0 <= measured.battery_percent <= 100


def test_run_stops_after_the_given_passes(make_app, config_path):
    app = make_app()
    ada = enrol(app, "ada")
    result = cli(run, app, config_path, "--interval", "0.1s", "--passes", "2", "--json")
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert result.exit_code == 0
    assert [t["subject"] for t in first["trained"]] == [ada] and second["trained"] == []


class TestDevicePlugin(PluginConformance):
    @pytest.fixture
    def plugin(self):
        from satchel_plugins import device

        return device
