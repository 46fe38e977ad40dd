"""The privacy audit report on real apps on disk: what it lists, what it finds, how it renders."""

import base64
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from app_support import grant

import satchel
from satchel.audit.report import (
    ENCRYPTION,
    Finding,
    Severity,
    build_report,
    render_html,
    render_json,
    render_text,
)
from satchel.events import Event
from satchel.plugin.hookspecs import hookimpl
from satchel.plugin.records import DATA_CATEGORIES, SchedulerSpec
from satchel.plugin.registry import Registry
from satchel.testing import builtin_plugins
from satchel_plugins.schedulers import ConditionsOptions, ConditionsScheduler

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

NOW = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
ADULT, CHILD, LEFT, TEEN = "learner-ada-0427", "learner-kim-0815", "learner-bo-0311", "learner-tia-1409"
SUBJECT_IDS = (ADULT, CHILD, LEFT, TEEN)
CHROMIUM = Path("/usr/bin/chromium")
THIRD_PARTY = ("acme-satchel-extras", "2.1.0")

CONFIG = """
[app]
id = "habits-test"
name = "{name}"
data_dir = "{data}"
key_dir = "{keys}"

[privacy]
key_provider = {provider}
{privacy}

[pipelines.habits]
model = {{ name = "habit", options = {{ min_samples = 10 }} }}
purposes = ["habit_reminders"]
scheduler = "{scheduler}"
{extra}
"""
ENV_PROVIDER = '{ name = "env", options = { variable = "SATCHEL_TEST_KEY" } }'
GRADING = """
[pipelines.grading]
model = "rubric"
purposes = ["grading_assistance"]
"""


def habit_events(days=6):
    out = []
    for d in range(days):
        t = NOW - timedelta(days=days - d)
        out += [
            Event(type="app_opened", time=t.replace(hour=8), data={}),
            Event(type="habit_completed", time=t.replace(hour=19), data={"habit": "reading"}),
        ]
    return out


def by_code(report, code):
    found = [f for f in report.findings if f.code == code]
    assert found, f"no {code} finding in {[f.code for f in report.findings]}"
    return found


def as_json(report):
    return json.loads(render_json(report))


class AcmeConsentWatcher:
    """A third-party consent plugin that sees every consent history and never answers."""

    @hookimpl
    def satchel_consent_verdict(self, request):
        return None


class AcmeNightlyScheduler:
    """A third-party scheduler (sees no personal data)."""

    @hookimpl
    def satchel_schedulers(self):
        yield SchedulerSpec("acme_nightly", ConditionsScheduler, ConditionsOptions, "Acme's conditions")


def registry(**third_party):
    """Built-ins registered as satchel's (as their entry points are), plus plugins from a third party."""
    reg = Registry(entry_points=False, env={}).load()
    for name, plugin in builtin_plugins().items():
        reg.register(plugin, name, distribution="satchel", version=satchel.__version__)
    for name, plugin in third_party.items():
        reg.register(plugin, name, distribution=THIRD_PARTY[0], version=THIRD_PARTY[1])
    return reg


@pytest.fixture
def custom_app(tmp_path, master_key):
    """Apps from our own config text (key provider, age of consent, retention, name, plugins)."""
    opened = []

    def make(
        *,
        provider=ENV_PROVIDER,
        privacy="",
        extra="",
        name="Habit Coach",
        scheduler="conditions",
        reg=None,
        unlimited_retention=False,
    ):
        data, keys = (tmp_path / "data").as_posix(), (tmp_path / "keys").as_posix()
        text = CONFIG.format(
            name=name,
            data=data,
            keys=keys,
            provider=provider,
            privacy=privacy,
            extra=extra,
            scheduler=scheduler,
        )
        source = tomllib.loads(text)
        if unlimited_retention:
            source["privacy"]["retention_days"] = 0
        app = satchel.open(source, registry=reg or registry())
        opened.append(app)
        return app

    yield make
    for app in opened:
        app.close()


@pytest.fixture
def populated(make_app):
    """An adult (self consent), a child (guardian consent) and a learner who withdrew with purge off."""
    app = make_app(privacy_extra="purge_on_withdrawal = false")
    grant(app, ADULT, at=NOW - timedelta(days=10))
    grant(app, CHILD, actor="guardian", age_band="8-12", at=NOW - timedelta(days=10))
    grant(app, LEFT, at=NOW - timedelta(days=10))
    for subject in (ADULT, CHILD, LEFT):
        app.record(subject, habit_events(), at=NOW - timedelta(days=1))
    app.consent.withdraw(LEFT, at=NOW - timedelta(hours=2))
    return app


# ------------------------------------------------------------------ contents


def test_json_lists_the_app_its_protection_and_the_audit_log(populated, master_key):
    app = populated
    report = build_report(app, now=NOW)
    d = as_json(report)
    a = d["app"]
    assert (a["app_id"], a["generated_at"]) == ("habits-test", NOW.isoformat())
    assert a["satchel_version"] == satchel.__version__
    assert (a["data_dir"], a["key_dir"]) == (str(app.config.data_dir), str(app.config.key_dir))
    assert a["encryption"] == ENCRYPTION
    assert "AES-256-GCM" in a["encryption"]
    assert "AAD binds app/subject/pipeline/kind/version/key id" in a["encryption"]
    kp = a["key_provider"]
    assert (kp["name"], kp["insecure"], kp["settings"]) == ("env", False, {"variable": "SATCHEL_TEST_KEY"})
    assert "SATCHEL_TEST_KEY" in kp["description"]
    origin = app.registry.origin("key_provider", "env")
    assert (kp["origin"]["distribution"], kp["origin"]["builtin"]) == (origin.distribution, origin.builtin)
    info = app.vault.info()
    assert a["master_key_id"] == info.master_key_id and len(a["master_key_id"]) == 16
    assert (a["master_key_rotated_at"], a["retired_keys"]) == (None, 0)
    assert (a["subjects"], a["erased_subjects"]) == (3, 0)
    assert (a["age_of_digital_consent"], a["retention_days"], a["purge_on_withdrawal"]) == (13, 60, False)
    assert a["school_consent_purposes"] == []
    assert d["audit_log"] == {
        "path": str(app.config.data_dir / "audit.jsonl"),
        "ok": True,
        "entries": len(app.audit_log.entries()),
        "problem": None,
    }
    assert d["summary"] == {"critical": 0, "high": 1, "medium": 1, "low": report.summary()["low"], "info": 0}
    text = render_json(report)
    assert master_key not in text and base64.b64decode(master_key).hex() not in text


def test_json_lists_each_pipeline_its_plugins_data_and_consent_coverage(populated):
    app = populated
    (p,) = as_json(build_report(app, now=NOW))["pipelines"]
    cfg = app.pipeline("habits")
    assert (p["name"], p["purposes"]) == ("habits", ["habit_reminders"])
    for role, kind in (
        ("model", "model"),
        ("featurizer", "featurizer"),
        ("backend", "backend"),
        ("scheduler", "scheduler"),
        ("store", "checkpoint_store"),
    ):
        name = getattr(cfg, role).name
        origin = app.registry.origin(kind, name)
        assert {k: p[role][k] for k in ("name", "plugin", "distribution", "version", "builtin")} == {
            "name": name,
            "plugin": origin.plugin,
            "distribution": origin.distribution,
            "version": origin.version,
            "builtin": origin.builtin,
        }
    assert [p[r]["name"] for r in ("model", "featurizer", "backend")] == ["habit", "habit_daily", "litert"]
    reads = cfg.featurizer.spec.reads
    assert [e["name"] for e in p["event_types"]] == list(reads)
    for e in p["event_types"]:
        spec = app.registry.event_type(e["name"])
        assert (e["categories"], e["description"]) == (list(spec.categories), spec.description)
    assert p["categories"] == [
        {"name": c, "description": DATA_CATEGORIES[c]} for c in ("usage", "behavioral")
    ]
    assert p["coverage"] == {
        "subjects_with_data": 3,
        "subjects_with_consent": 2,
        "consent_by_actor": {"self": 1, "guardian": 1, "school": 0},
        "minors": 1,
        "minors_guardian_or_school_consent": 1,
        "minors_self_consent": 0,
        "subjects_with_data_without_consent": 1,
    }
    access = {(x["role"], x["name"]): x for x in p["plugins"]}
    featurizer = access[("featurizer", "habit_daily")]
    assert featurizer["personal_data"] and all(t in featurizer["reads"] for t in reads)
    assert not access[("scheduler", "conditions")]["personal_data"]
    assert "no personal data" in access[("scheduler", "conditions")]["reads"]
    consent = [x for x in p["plugins"] if x["role"] == "consent"]
    implementations = app.registry.implementations("satchel_consent_verdict")
    assert [x["plugin"] for x in consent] == [o.plugin for o in implementations]
    assert all("consent history" in x["reads"] and x["personal_data"] for x in consent)
    assert {("model", "habit"), ("backend", "litert"), ("store", "encrypted_checkpoints")} <= set(access)


def test_findings_are_ranked_with_fixes_and_filtered_by_severity(populated):
    app = populated
    report = build_report(app, now=NOW)
    (kept,) = by_code(report, "data-without-consent")
    assert (kept.severity, kept.pipeline, kept.subjects) == (Severity.HIGH, "habits", (app.pseudonym(LEFT),))
    assert app.pseudonym(LEFT) in kept.detail and "purge_on_withdrawal" in kept.fix
    (purge,) = by_code(report, "purge-on-withdrawal-off")
    assert (purge.severity, purge.pipeline) == (Severity.MEDIUM, None)
    assert "purge_on_withdrawal = true" in purge.fix
    assert all(f.fix and f.title and f.detail for f in report.findings)
    ranks = [f.severity for f in report.findings]
    assert ranks == sorted(ranks, reverse=True) and report.findings[0] == kept
    assert report.findings_at_or_above(Severity.HIGH) == (kept,)
    assert report.findings_at_or_above("medium") == (kept, purge)
    assert report.findings_at_or_above("INFO") == report.findings
    absent = {
        "minor-self-consent",
        "retention-unset",
        "retention-long",
        "insecure-key-provider",
        "audit-log-invalid",
        "free-text-collected",
        "key-dir-permissions",
    }
    assert not absent & {f.code for f in report.findings}
    assert [f["code"] for f in as_json(report)["findings"]] == [f.code for f in report.findings]
    assert as_json(report)["findings"][0]["severity"] == "high"


def test_severity_compares_and_parses():
    assert Severity.CRITICAL > Severity.HIGH > Severity.MEDIUM > Severity.LOW > Severity.INFO
    assert Severity.parse(" High ") is Severity.HIGH and Severity.parse(Severity.LOW) is Severity.LOW
    assert str(Severity.CRITICAL) == "critical"
    with pytest.raises(ValueError, match="choose one of: critical, high, medium, low, info"):
        Severity.parse("severe")


def test_withdrawal_with_purge_leaves_no_data_without_consent(make_app):
    app = make_app()
    grant(app, ADULT, at=NOW - timedelta(days=10))
    grant(app, LEFT, at=NOW - timedelta(days=10))
    for subject in (ADULT, LEFT):
        app.record(subject, habit_events(), at=NOW - timedelta(days=1))
    app.consent.withdraw(LEFT, at=NOW - timedelta(hours=2))
    report = build_report(app, now=NOW)
    coverage = report.pipelines[0].coverage
    assert (coverage.subjects_with_data, coverage.subjects_with_consent) == (1, 1)
    assert coverage.subjects_with_data_without_consent == 0
    assert not {"data-without-consent", "purge-on-withdrawal-off"} & {f.code for f in report.findings}


def test_no_learner_id_appears_in_any_rendering(populated):
    report = build_report(populated, now=NOW)
    for rendered in (render_json(report), render_text(report), render_html(report)):
        assert populated.pseudonym(LEFT) in rendered
        for subject in SUBJECT_IDS:
            assert subject not in rendered


# ------------------------------------------------------------------ findings


def test_minor_who_consented_alone_before_the_age_was_raised_is_high(make_app, custom_app, tmp_path):
    app = make_app()  # age of digital consent 13: a 13-15 year old may consent alone
    grant(app, TEEN, age_band="13-15", at=NOW - timedelta(days=10))
    grant(app, ADULT, at=NOW - timedelta(days=10))
    app.record(TEEN, habit_events(), at=NOW - timedelta(days=1))
    pseudo = app.pseudonym(TEEN)
    app.close()
    raised = custom_app(privacy="age_of_digital_consent = 16")
    report = build_report(raised, now=NOW)
    (minor,) = by_code(report, "minor-self-consent")
    assert (minor.severity, minor.pipeline, minor.subjects) == (Severity.HIGH, "habits", (pseudo,))
    assert "guardian" in minor.fix and "under 16" in minor.title
    coverage = report.pipelines[0].coverage
    assert (coverage.minors, coverage.minors_self_consent) == (1, 1)
    assert coverage.minors_guardian_or_school_consent == 0
    assert report.app.age_of_digital_consent == 16


def test_insecure_key_provider_is_critical_and_ranked_first(custom_app):
    app = custom_app(provider='"insecure_file"')
    report = build_report(app, now=NOW)
    first = report.findings[0]
    assert (first.severity, first.code, first.pipeline) == (Severity.CRITICAL, "insecure-key-provider", None)
    assert "keyring" in first.fix and "passphrase" in first.fix
    assert str(app.config.key_dir / "master-key.INSECURE") in first.fix
    assert report.app.key_provider.insecure and "INSECURE" in report.app.key_provider.description
    assert report.findings_at_or_above(Severity.CRITICAL) == (first,)


def test_tampered_audit_log_is_critical(populated):
    app = populated
    log = app.config.data_dir / "audit.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    assert '"actor":"guardian"' in lines[1]
    lines[1] = lines[1].replace('"actor":"guardian"', '"actor":"self"')
    log.write_text("".join(lines))
    report = build_report(app, now=NOW)
    assert (report.audit_log.ok, report.audit_log.entries) == (False, 1)
    assert report.audit_log.problem.startswith("line 2:")
    first = report.findings[0]
    assert (first.severity, first.code) == (Severity.CRITICAL, "audit-log-invalid")
    assert "line 2" in first.detail and "satchel audit verify" in first.fix
    assert as_json(report)["audit_log"]["ok"] is False


def test_unlimited_retention_is_medium(custom_app):
    report = build_report(custom_app(unlimited_retention=True), now=NOW)
    (finding,) = by_code(report, "retention-unset")
    assert (finding.severity, report.app.retention_days) == (Severity.MEDIUM, None)
    assert "privacy.retention_days" in finding.fix
    assert as_json(report)["app"]["retention_days"] is None


def test_retention_and_rotation_and_permissions(custom_app, tmp_path):
    app = custom_app(privacy="retention_days = 1200")
    created = app.vault.info().created_at
    report = build_report(app, now=created + timedelta(days=400))
    (long,) = by_code(report, "retention-long")
    assert long.severity == Severity.LOW and "1200" in long.title
    (rotate,) = by_code(report, "master-key-not-rotated")
    assert rotate.severity == Severity.LOW and "400 days" in rotate.title
    assert "Vault.rotate" in rotate.fix  # the env provider cannot create keys itself
    codes = {f.code for f in report.findings}
    assert not {"key-dir-permissions", "data-dir-permissions", "retention-unset"} & codes

    app.vault.rotate(os.urandom(32))
    rotated = build_report(app, now=app.vault.info().rotated_at + timedelta(days=30))
    assert "master-key-not-rotated" not in {f.code for f in rotated.findings}
    assert rotated.app.retired_keys == 1 and rotated.app.master_key_rotated_at is not None

    keys, data = tmp_path / "keys", tmp_path / "data"
    keys.chmod(0o750)
    (keys / "vault.sqlite3").chmod(0o644)
    data.chmod(0o755)
    report = build_report(app, now=NOW)
    (key_dir,) = by_code(report, "key-dir-permissions")
    assert key_dir.severity == Severity.MEDIUM and "keys/vault.sqlite3" in key_dir.detail
    assert f"chmod -R go-rwx {keys}" in key_dir.fix
    (data_dir,) = by_code(report, "data-dir-permissions")
    assert data_dir.severity == Severity.LOW


def test_third_party_plugins_that_read_personal_data_are_named(custom_app):
    app = custom_app(
        scheduler="acme_nightly",
        reg=registry(acme_consent=AcmeConsentWatcher(), acme_nightly=AcmeNightlyScheduler()),
    )
    report = build_report(app, now=NOW)
    (finding,) = by_code(report, "third-party-plugin")
    assert (finding.severity, finding.pipeline) == (Severity.LOW, "habits")
    assert "'acme_consent'" in finding.title and "acme-satchel-extras 2.1.0" in finding.detail
    assert "consent history" in finding.detail
    pipeline = report.pipelines[0]
    assert (pipeline.scheduler.name, pipeline.scheduler.builtin, pipeline.scheduler.personal_data) == (
        "acme_nightly",
        False,
        False,
    )
    assert pipeline.featurizer.builtin and pipeline.featurizer.distribution == "satchel"


def test_free_text_pipeline_is_flagged_for_review(custom_app):
    app = custom_app(extra=GRADING)
    report = build_report(app, now=NOW)
    (finding,) = by_code(report, "free-text-collected")
    assert (finding.severity, finding.pipeline) == (Severity.INFO, "grading")
    assert "answer_submitted" in finding.detail
    grading = {p.name: p for p in report.pipelines}["grading"]
    categories = [(c.name, c.description) for c in grading.categories]
    assert ("free_text", DATA_CATEGORIES["free_text"]) in categories
    assert report.findings[-1] == finding


# ------------------------------------------------------------------ renderings


def test_text_report_reads_top_to_bottom(populated):
    text = render_text(build_report(populated, now=NOW))
    order = [
        "APP",
        "encryption",
        "audit log",
        "PIPELINE habits",
        "consent coverage",
        "plugins and the data",
        "FINDINGS (",
        "1. HIGH",
        "fix: ",
    ]
    positions = [text.index(s) for s in order]
    assert positions == sorted(positions)
    assert max(len(line) for line in text.splitlines()) <= 100


def test_html_is_one_escaped_self_contained_document(custom_app):
    app = custom_app(name="<script>alert(1)</script> & Co")
    page = render_html(build_report(app, now=NOW))
    assert page.startswith("<!DOCTYPE html>") and page.count("<html") == 1
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in page
    for external in ("http://", "https://", "src=", "href=", "@import", "url(", "@font-face"):
        assert external not in page
    assert "default-src 'none'" in page


def _chromium(*args, user_data: Path):
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={user_data}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout


def _page_requests(net_log: Path):
    """URLs the page asked for (Chromium's own background requests have no origin)."""
    log = json.loads(net_log.read_text())
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    return [
        e["params"]["url"]
        for e in log["events"]
        if names[e["type"]] == "URL_REQUEST_START_JOB"
        and "url" in e.get("params", {})
        and e["params"].get("initiator") != "not an origin"
    ]


@pytest.mark.browser
@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)"
)
def test_html_report_in_headless_chromium(custom_app, tmp_path):
    app = custom_app(provider='"insecure_file"', privacy="purge_on_withdrawal = false", extra=GRADING)
    grant(app, ADULT, at=NOW - timedelta(days=3))
    app.record(ADULT, habit_events(), at=NOW - timedelta(days=1))
    report = build_report(app, now=NOW)
    page = tmp_path / "audit.html"
    page.write_text(render_html(report), encoding="utf-8")
    net_log = tmp_path / "net.json"
    dom = _chromium("--dump-dom", f"--log-net-log={net_log}", page.as_uri(), user_data=tmp_path / "chromium")
    assert "<title>Privacy audit: Habit Coach (habits-test)</title>" in dom
    for name in ("habits", "grading"):
        assert f'id="pipeline-{name}"' in dom
    for label in ("critical", "medium", "info"):
        assert f'<span class="sev sev-{label}">{label}</span>' in dom
    critical = report.findings[0]
    assert critical.severity == Severity.CRITICAL and critical.title in dom
    assert _page_requests(net_log) == []
    shot = tmp_path / "audit.png"  # kept in pytest's basetemp: look at it when changing the page
    _chromium(
        f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri(), user_data=tmp_path / "chromium"
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_finding_is_frozen():
    finding = Finding(Severity.LOW, "x", "t", "d", "f")
    with pytest.raises(AttributeError):
        finding.code = "y"
    assert (finding.pipeline, finding.subjects) == (None, ())
