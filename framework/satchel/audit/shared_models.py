"""The audit of federated shared models: the privacy mechanism, epsilon spent per learner, findings."""

from __future__ import annotations

import json
from typing import Any

from satchel.audit.audited_app import AuditedApp, AuditedPipeline
from satchel.audit.records import Finding, Severity, SharedModelSection
from satchel.audit.subjects import Subject
from satchel.federated.accounting import plan as make_plan
from satchel.federated.store import BudgetLedger, load_shared

#: a shared model whose per-learner epsilon (cap, or spent so far) is above this is reported
EPSILON_THRESHOLD = 10.0
_STRATEGY_NAMES = {"fedavg": "FedAvg", "fedadam": "FedAdam"}


def shared_models(
    app: AuditedApp, subjects: tuple[Subject, ...]
) -> tuple[tuple[SharedModelSection, ...], list[Finding]]:
    """A section per pipeline with a shared model, and their findings (one finding instead when the
    privacy accountant is not installed)."""
    federated = [p for p in app.pipelines.values() if p.federated is not None]
    try:
        sections = tuple(_shared_model_section(app, p, subjects) for p in federated)
    except ImportError as e:  # the ``federated`` extra (dp-accounting) is not installed here
        return (), [
            Finding(
                Severity.MEDIUM,
                "federated-accounting-unavailable",
                "Shared models could not be audited",
                f"Pipelines {', '.join(p.name for p in federated)} declare a shared model, but {e}.",
                "Install satchel's 'federated' extra to audit privacy spent on shared models.",
            )
        ]
    return sections, [f for m in sections for f in _shared_model_findings(m)]


def _finite(x: float | None) -> float | None:
    return None if x is None or x != x or x in (float("inf"), float("-inf")) else x


def _audit_counts(app: AuditedApp, pipeline: str) -> tuple[int, int]:
    """(contributions, refusals) of ``pipeline`` in the audit log (0, 0 when unreadable)."""
    contributed = refused = 0
    try:
        with open(app.audit_log.path, encoding="utf-8") as f:
            for line in f:
                if '"federated.' not in line:
                    continue
                row = json.loads(line)
                if (row.get("fields") or {}).get("pipeline") != pipeline:
                    continue
                contributed += row.get("action") == "federated.contributed"
                refused += row.get("action") == "federated.refused"
    except (OSError, ValueError):
        pass
    return contributed, refused


def _shared_model_section(
    app: AuditedApp, p: AuditedPipeline, subjects: tuple[Subject, ...]
) -> SharedModelSection:
    section = p.federated
    assert section is not None, "only pipelines with a shared model have a shared-model section"
    # satchel.federated takes satchel.app's App and FederatedSection, but reads only what AuditedApp
    # (config.data_dir, vault, app_id) and AuditedSharedModel describe
    federated_app: Any = app
    federated_section: Any = section
    pl = make_plan(federated_section)
    spent: list[float] = []
    unreadable = 0
    for s in subjects:
        try:
            ledger = BudgetLedger(federated_app, s.pseudonym, p.name, pl.delta)
            if ledger.charges():
                spent.append(ledger.spent())
        except Exception:
            unreadable += 1
    try:
        shared = load_shared(federated_app, p.name)
        installed = dict(shared[1]) if shared is not None else None
    except Exception as e:
        installed = {"error": f"{type(e).__name__}: {e}"}
    dp = pl.noise_multiplier > 0
    mechanism = (
        f"DP-{_STRATEGY_NAMES.get(section.strategy, section.strategy)}: each update clipped to L2 "
        f"{pl.clip_norm:g} on the device; Gaussian noise "
        f"(multiplier {pl.noise_multiplier:.4g}) on the mean; RDP accountant, delta {pl.delta:g}, "
        f"{pl.rounds} rounds of {pl.clients_per_round} at q = {pl.q:.4g}"
        if dp
        else f"{_STRATEGY_NAMES.get(section.strategy, section.strategy)} without noise: updates clipped to L2 "
        f"{pl.clip_norm:g}, no differential privacy"
    )
    contributed, refused = _audit_counts(app, p.name)
    ordered = sorted(spent)
    return SharedModelSection(
        p.name,
        section.purpose,
        mechanism,
        dp,
        bool(section.secure_aggregation),
        pl.noise_multiplier,
        pl.clip_norm,
        pl.delta,
        _finite(pl.epsilon),
        pl.epsilon_cap,
        len(spent),
        _finite(ordered[-1]) if ordered else None,
        _finite(ordered[len(ordered) // 2]) if ordered else None,
        sum(e >= pl.epsilon_cap * (1 - 1e-6) for e in spent),
        unreadable,
        contributed,
        refused,
        installed,
    )


def _shared_model_findings(m: SharedModelSection) -> list[Finding]:
    out: list[Finding] = []
    inst = m.installed or {}
    if not m.differential_privacy or inst.get("epsilon") == -1:
        where = "is configured without noise" if not m.differential_privacy else "was trained without noise"
        out.append(
            Finding(
                Severity.HIGH,
                "federated-no-dp",
                f"The shared model of '{m.pipeline}' {where} (no differential privacy)",
                "Learners' clipped updates are averaged without Gaussian noise: the global model (and anyone who sees "
                "the aggregate) can reveal what individual learners did.",
                "Set target_epsilon (or noise_multiplier > 0) in [pipelines.X.federated] and retrain the shared model.",
                m.pipeline,
            )
        )
    if not m.secure_aggregation or inst.get("secure_aggregation") is False:
        out.append(
            Finding(
                Severity.MEDIUM,
                "federated-no-secure-aggregation",
                f"The shared model of '{m.pipeline}' is trained without secure aggregation",
                "The server sees each learner's clipped update before noise is added to the mean; differential privacy "
                "protects the published model, not the individual updates in transit to the server.",
                "Set secure_aggregation = true (SecAgg+) so the server only sees the sum of updates.",
                m.pipeline,
            )
        )
    high = [
        x
        for x in (m.epsilon_cap, m.epsilon_spent_max, m.epsilon_per_run)
        if x is not None and x > EPSILON_THRESHOLD
    ]
    if m.differential_privacy and high:
        out.append(
            Finding(
                Severity.MEDIUM,
                "federated-epsilon-high",
                f"The shared model of '{m.pipeline}' allows epsilon above {EPSILON_THRESHOLD:g} per learner",
                f"Epsilon cap {m.epsilon_cap:g}, per run {m.epsilon_per_run if m.epsilon_per_run is not None else 'inf'}"
                f", spent so far at most {m.epsilon_spent_max if m.epsilon_spent_max is not None else 0:.3g} "
                f"(delta {m.delta:g}). Guarantees this weak bound little.",
                "Lower epsilon_cap and target_epsilon, or sample fewer learners per round from a larger population.",
                m.pipeline,
            )
        )
    if m.unreadable_ledgers:
        out.append(
            Finding(
                Severity.HIGH,
                "federated-ledger-unreadable",
                f"{m.unreadable_ledgers} privacy ledger(s) of '{m.pipeline}' could not be read",
                "A learner's sealed record of privacy spent is missing, tampered with or rolled back; their budget "
                "cannot be enforced (contributing is refused while it is unreadable).",
                "Restore the data directory whole from the latest backup.",
                m.pipeline,
            )
        )
    if "error" in inst:
        out.append(
            Finding(
                Severity.HIGH,
                "federated-model-unreadable",
                f"The installed shared model of '{m.pipeline}' is not valid",
                str(inst["error"]),
                "Restore the data directory whole, or install the global model again.",
                m.pipeline,
            )
        )
    return out
