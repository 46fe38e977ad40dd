"""What the training runner plans: whether one model is due, and in which order due models train."""

from __future__ import annotations

from datetime import datetime, timezone

from satchel.app import App, Pseudonym
from satchel.app.config import PipelineConfig
from satchel.plugin.records import DeviceState
from satchel.training.outcomes import ModelStatus
from satchel.training.scheduling import ScheduleInput


def assess(
    app: App,
    pseudo: str,
    p: PipelineConfig,
    device: DeviceState,
    now: datetime,
    planned: ModelStatus | None = None,
) -> ModelStatus:
    """The schedule of one model; reads nothing of a learner whose consent does not cover it.

    With ``planned`` (this pass's earlier assessment) the learner's events are not read again
    unless a checkpoint was saved since: until then the planned sample count stands.
    """
    allowed, why, _ = app._verdict(pseudo, p, "train", now)
    if not allowed:
        return ModelStatus(pseudo, p.name, False, (f"no consent: {why}",))
    subject = Pseudonym(pseudo)
    ckpt = app.load_checkpoint(subject, p.name)
    version = ckpt.version if ckpt is not None else None
    if planned is not None and planned.samples is not None and planned.version == version:
        total = planned.samples
    else:
        total = app.samples(subject, p.name, now=now)
    new = total if ckpt is None else max(0, total - ckpt.samples)
    last = ckpt.created_at if ckpt is not None else None
    decision = app.component(p.name, "scheduler").decide(ScheduleInput(now, device, last, new, total))
    reasons = list(decision.reasons)
    needed = app.component(p.name, "model").min_samples
    if total < needed:
        reasons.append(f"{total} training sample{'s' if total != 1 else ''}, the model needs {needed}")
    due = not reasons
    return ModelStatus(
        pseudo,
        p.name,
        due,
        tuple(reasons),
        last,
        version,
        total,
        new,
        now if due else decision.not_before,
        decision.time_budget_s,
    )


def priority(st: ModelStatus) -> tuple[bool, int, datetime]:
    """The sort key of due models: never trained first, then most new samples, then longest since trained."""
    oldest = st.last_trained_at or datetime.min.replace(tzinfo=timezone.utc)
    return st.last_trained_at is not None, -(st.new_samples or 0), oldest


def held(pid: int | None) -> str:
    """The reason a model is skipped while another runner (process ``pid``) holds its lock."""
    return "locked by another runner" + (f" (pid {pid})" if pid and pid > 0 else "")


def device_text(d: DeviceState) -> str:
    """The device state, for the log."""
    return (
        f"source={d.source or '?'} battery={d.battery_percent} charging={d.charging} idle={d.idle} "
        f"unmetered={d.unmetered_network}"
    )
