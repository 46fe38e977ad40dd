"""What a device keeps for federation, sealed: the learner's privacy ledger and the global model.

The ledger (one per learner and shared model) lists every charge of the accountant; it is sealed
with the learner's key under ``checkpoints/<pseudonym>/<pipeline>.federated`` (erasure removes it,
crypto-shredding makes old copies unreadable) and versioned through the vault's monotonic
counters, so restoring an older ledger to spend the budget again is refused.

The global model is sealed with a key derived from the app's root key (it is nobody's personal
data), bound to the pipeline and the spec hash, and rollback-protected the same way.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from satchel.errors import IntegrityError
from satchel.federated.accounting import Plan, Steps, epsilon
from satchel.privacy.atomic import atomic_write
from satchel.privacy.envelope import Binding, SubjectKey, open_sealed, seal
from satchel.storage.sealed_files import SealedFiles

if TYPE_CHECKING:
    from satchel.app._wiring import AppWiring

LEDGER = "dp-ledger"
SHARED_SUBJECT = "shared-model"


@dataclass(frozen=True)
class Charge:
    """One charge of the accountant: a run's rounds (or one round) at (sigma, q)."""

    run: str
    round: int
    sigma: float
    q: float
    count: int
    clip_norm: float
    at: str


class BudgetLedger:
    """A learner's sealed record of privacy spent on one shared model."""

    def __init__(self, app: AppWiring, pseudo: str, pipeline: str, delta: float) -> None:
        self._files = SealedFiles(
            app.config.data_dir / "checkpoints" / pseudo / f"{pipeline}.federated",
            app.vault,
            app.app_id,
            pseudo,
            f"{pipeline}.federated",
        )
        self.delta = delta

    def charges(self) -> tuple[Charge, ...]:
        latest = self._files.latest()
        if latest.value == 0:
            return ()
        raw, blob = self._files.read(LEDGER, "dp_ledger", latest.value)
        if latest.tag and hashlib.sha256(blob).digest()[:16] != latest.tag:
            raise IntegrityError(
                "the privacy ledger is not the one last written",
                hint="the data directory was rolled back; restore it whole from the latest backup",
            )
        return tuple(Charge(**c) for c in json.loads(raw)["charges"])

    def spent(self) -> float:
        """Epsilon spent so far (at this ledger's delta)."""
        return epsilon(_steps(self.charges()), self.delta)

    def pending(self, plan: Plan, run: str) -> Steps | None:
        """What contributing to ``run`` would still cost (None when the run is already charged)."""
        if plan.trust_sampling and any(c.run == run for c in self.charges()):
            return None
        return plan.charge()

    def would_spend(self, plan: Plan, run: str) -> float:
        """Epsilon after contributing to ``run``."""
        extra = self.pending(plan, run)
        return epsilon([*_steps(self.charges()), *([extra] if extra else [])], self.delta)

    def charge(self, plan: Plan, run: str, round_: int, at: datetime) -> None:
        """Record the charge for contributing to ``run`` (before anything is sent)."""
        extra = self.pending(plan, run)
        if extra is None:
            return
        charges = [
            *self.charges(),
            Charge(run, round_, extra.sigma, extra.q, extra.count, plan.clip_norm, at.isoformat()),
        ]
        version = self._files.latest().value + 1
        body = json.dumps({"delta": self.delta, "charges": [asdict(c) for c in charges]}).encode()
        blob = self._files.write(LEDGER, "dp_ledger", version, body)
        self._files.commit(version, hashlib.sha256(blob).digest()[:16])


def _steps(charges: tuple[Charge, ...]) -> list[Steps]:
    return [Steps(c.sigma, c.q, c.count) for c in charges]


# ------------------------------------------------------------------ the global model


def _shared_files(app: AppWiring, pipeline: str) -> Any:
    key = SubjectKey(SHARED_SUBJECT, app.vault.derive(f"federated/shared-model/{pipeline}"))
    path = app.config.data_dir / "shared" / f"{pipeline}.model"
    counter = f"shared-model:{pipeline}"

    def write(version: int, body: bytes) -> bytes:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        blob = seal(body, key, Binding(app.app_id, SHARED_SUBJECT, pipeline, "shared_model", version))
        atomic_write(path, blob)
        return blob

    def read(version: int) -> tuple[bytes, bytes]:
        blob = path.read_bytes()
        return open_sealed(
            blob, key, Binding(app.app_id, SHARED_SUBJECT, pipeline, "shared_model", version)
        ), blob

    return write, read, counter, path


def save_shared(
    app: AppWiring,
    pipeline: str,
    params: Mapping[str, np.ndarray],
    *,
    spec_hash: str,
    meta: Mapping[str, Any],
) -> int:
    """Seal ``params`` as the pipeline's global model (for ``spec_hash``); returns its version."""
    write, _, counter, _ = _shared_files(app, pipeline)
    version = app.vault.current(counter) + 1
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v, np.float32) for k, v in params.items()})  # type: ignore[arg-type]  # numpy stubs: **arrays could name allow_pickle
    header = json.dumps({"spec_hash": spec_hash, **meta}).encode()
    blob = write(version, len(header).to_bytes(4, "big") + header + buf.getvalue())
    app.vault.advance(counter, version, hashlib.sha256(blob).digest()[:16])
    app.audit_log.append(
        "federated.model_installed",
        pipeline=pipeline,
        version=version,
        spec_hash=spec_hash[:12],
        **{k: v for k, v in meta.items() if isinstance(v, (int, float, str, bool))},
    )
    return version


def load_shared(
    app: AppWiring, pipeline: str, spec_hash: str | None = None
) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """The pipeline's sealed global model and its metadata; None when there is none (or it was
    trained for another spec). Tampered or rolled-back files raise IntegrityError."""
    _, read, counter, path = _shared_files(app, pipeline)
    latest = app.vault.counter(counter)
    if latest.value == 0:
        return None
    if not path.exists():
        raise IntegrityError(
            f"the shared model of '{pipeline}' is missing", hint="restore the data directory"
        )
    raw, blob = read(latest.value)
    if latest.tag and hashlib.sha256(blob).digest()[:16] != latest.tag:
        raise IntegrityError(
            f"the shared model of '{pipeline}' is not the one last installed",
            hint="the data directory was rolled back; restore it whole",
        )
    n = int.from_bytes(raw[:4], "big")
    meta = json.loads(raw[4 : 4 + n])
    if spec_hash is not None and meta.get("spec_hash") != spec_hash:
        return None
    with np.load(io.BytesIO(raw[4 + n :])) as z:
        return {k: z[k] for k in z.files}, meta
