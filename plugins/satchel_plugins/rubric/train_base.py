"""Train the rubric base grader on the SemEval-2013 train split and write ``base_weights.npz``.

    python -m satchel_plugins.rubric.train_base [--backend onnx|litert] [--epochs 10]

Reads ``../shared/data/semeval2013_2way`` (relative to the repository root), featurizes every
answer on the CPU, trains the rubric task's default network on the train split (both corpora)
with a real training backend, scores the official test splits and writes, beside this file,
``base_weights.npz`` (named float32 arrays) and ``base_weights.json`` (spec and feature-schema
hashes, data provenance, hyper-parameters and test-split scores). Deterministic for a backend.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np

from satchel.dataset import Dataset
from satchel.metrics import accuracy, auc, log_loss
from satchel.model_spec import Optimizer
from satchel_plugins.rubric.features import SCHEMA, featurize
from satchel_plugins.rubric.semeval import SEMEVAL_CSV, SPLITS, load_semeval
from satchel_plugins.rubric.task import BASE_WEIGHTS, RubricTask

LEARNING_RATE = 0.005
SEED = 0


def _backend(name: str):  # noqa: ANN202 - a TrainerBackend
    if name == "litert":
        from satchel_plugins.backends.litert import LiteRTBackend

        return LiteRTBackend()
    from satchel_plugins.backends.onnx_training import OnnxBackend

    return OnnxBackend()


def train(backend_name: str, epochs: int, out: Path, csv_path: Path = SEMEVAL_CSV) -> dict[str, object]:
    """Train, score and write the base weights; returns the metadata written to the json."""
    answers = load_semeval(csv_path)
    x = featurize([(a.reference, a.text, a.question_text) for a in answers])
    y = np.array([a.label for a in answers], np.float32)
    split = np.array([a.split for a in answers])
    corpus = np.array([a.corpus for a in answers])
    device_spec = RubricTask().model_spec(SCHEMA)
    spec = dataclasses.replace(device_spec, l2_to_reference=0.0, optimizer=Optimizer(learning_rate=LEARNING_RATE),
                               batch_size=32, seed=SEED)
    backend = _backend(backend_name)
    with tempfile.TemporaryDirectory() as cache:
        trainer = backend.open(backend.compile(spec, Path(cache)))
        train_rows = np.flatnonzero(split == "train")
        fit = trainer.fit(Dataset.of(x[train_rows], y[train_rows], schema=SCHEMA), epochs=epochs, shuffle=True, seed=SEED)
        params = {k: np.asarray(v, np.float32) for k, v in trainer.get_weights().params.items()}
        p = trainer.predict(x)[:, 0]
    scores: dict[str, dict[str, float]] = {}
    for name in SPLITS:
        for corp in ("beetle", "sciEntsBank", "all"):
            rows = (split == name) & ((corpus == corp) | (corp == "all"))
            if rows.any():
                scores[f"{name}/{corp}"] = {
                    "n": int(rows.sum()), "accuracy": round(accuracy(y[rows], p[rows] >= 0.5), 4),
                    "auc": round(auc(y[rows], p[rows]), 4), "log_loss": round(log_loss(y[rows], p[rows]), 4),
                    "majority_baseline": round(float(max(y[rows].mean(), 1 - y[rows].mean())), 4)}
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **params)
    meta: dict[str, object] = {
        "spec_hash": device_spec.hash,
        "training_spec_hash": spec.hash,
        "feature_schema_hash": SCHEMA.hash,
        "feature_schema_version": SCHEMA.version,
        "backend": f"{backend.name} {backend.version}",
        "epochs": epochs,
        "final_train_loss": round(fit.final_loss, 5),
        "data": {"file": csv_path.name, "sha256": hashlib.sha256(csv_path.read_bytes()).hexdigest(),
                 "train_rows": int(len(train_rows)),
                 "source": "SemEval-2013 Task 7 2-way (Dzikovska et al. 2013), official train split, both corpora"},
        "scores": scores,
    }
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return meta


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("litert", "onnx"), default="onnx")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", type=Path, default=BASE_WEIGHTS)
    args = parser.parse_args(argv)
    if not SEMEVAL_CSV.exists():
        raise SystemExit(f"SemEval data not found at {SEMEVAL_CSV}; it is read from ../shared/data beside the repository")
    meta = train(args.backend, args.epochs, args.out)
    for name, s in meta["scores"].items():  # type: ignore[union-attr]
        print(f"{name:24s} n={s['n']:5d} accuracy={s['accuracy']:.3f} auc={s['auc']:.3f} "
              f"(majority {s['majority_baseline']:.3f})")
    print(f"wrote {args.out} and {args.out.with_suffix('.json').name}")


if __name__ == "__main__":
    main()
