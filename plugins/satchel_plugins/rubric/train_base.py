"""Train the rubric base grader on public data and write ``base_weights.npz``.

    python -m satchel_plugins.rubric.train_base [--backend onnx|litert] [--epochs 8]

Reads ``../shared/data`` (relative to the repository root): the SemEval-2013 2-way train split
(both corpora, grades 0/1) and the SAF ``training`` split (grades 0..4 in quarter steps). Never
the SemEval test splits nor SAF ``unseen_answers`` / ``unseen_questions``, on which the grader is
evaluated. Each answer is featurized as a teacher would have seen it: every data set is graded in
a seeded random order (twice for SAF, which is small), so the teacher features see 0..all earlier
grades of the same question; and once more with no grades at all (the base grader before any
teacher). The rubric task's default network is trained with a real training backend; the files
written beside this module are ``base_weights.npz`` (named float32 arrays) and
``base_weights.json`` (spec and feature-schema hashes, data provenance, hyper-parameters and
scores on the held-out splits). Deterministic for a backend.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from satchel.model.dataset import Dataset
from satchel.model.spec import Optimizer
from satchel_plugins.rubric.features import SCHEMA, Item, featurize, grade_labels, without_teacher
from satchel_plugins.rubric.saf import SAF_DIR, load_saf
from satchel_plugins.rubric.semeval import SEMEVAL_CSV, GradedAnswer, load_semeval
from satchel_plugins.rubric.task import BASE_WEIGHTS, RubricTask

LEARNING_RATE = 0.003
SEED = 0
#: held-out splits scored into the metadata (never trained on)
HELD_OUT = {
    "semeval test_ua": ("semeval", "test_ua"),
    "semeval test_uq": ("semeval", "test_uq"),
    "saf unseen_answers": ("saf", "unseen_answers"),
    "saf unseen_questions": ("saf", "unseen_questions"),
}


def graded_in_order(answers: Sequence[GradedAnswer], *, seed: int | None) -> np.ndarray:
    """Feature rows of ``answers`` as a teacher grading them in a seeded random order sees them
    (``seed`` None: before any grade)."""
    known = (
        np.full(len(answers), np.inf)
        if seed is None
        else np.random.default_rng(seed).permutation(len(answers)).astype(np.float64)
    )
    items = [
        Item(
            a.answer_id,
            a.question,
            a.reference,
            a.text,
            a.question_text,
            a.scale_max,
            None if seed is None else a.grade / a.scale_max,
            float(t),
        )
        for a, t in zip(answers, known)
    ]
    return featurize(items)


def labels(answers: Sequence[GradedAnswer]) -> np.ndarray:
    return grade_labels(
        np.array([a.grade / a.scale_max for a in answers]), np.array([a.scale_max for a in answers])
    )


def training_set(semeval: Sequence[GradedAnswer], saf: Sequence[GradedAnswer]) -> Dataset:
    """Both data sets graded in order (SAF twice) and once blind; SAF rows weigh as much as SemEval's in all."""
    parts, weights = [], []
    for answers, orders in ((semeval, (SEED,)), (saf, (SEED, SEED + 1))):
        if not answers:
            continue
        y = labels(answers)
        blocks = [graded_in_order(answers, seed=s) for s in orders]
        blocks.append(without_teacher(blocks[0]))
        parts.append((np.concatenate(blocks), np.concatenate([y] * len(blocks))))
        weights.append(np.full(len(blocks) * len(answers), 1.0 / (len(blocks) * len(answers))))
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    w = np.concatenate(weights)
    return Dataset(x, y, w * len(w) / w.sum(), SCHEMA)


def _backend(name: str):
    if name == "litert":
        from satchel_plugins.backends.litert import LiteRTBackend

        return LiteRTBackend()
    from satchel_plugins.backends.onnx_training import OnnxBackend

    return OnnxBackend()


def train_params(data: Dataset, backend_name: str, epochs: int) -> tuple[dict[str, np.ndarray], float, str]:
    """(trained parameters, final training loss, backend description) of the default network on ``data``."""
    spec = _training_spec()
    backend = _backend(backend_name)
    with tempfile.TemporaryDirectory() as cache:
        trainer = backend.open(backend.compile(spec, Path(cache)))
        fit = trainer.fit(data, epochs=epochs, shuffle=True, seed=SEED)
        params = {k: np.asarray(v, np.float32) for k, v in trainer.get_weights().params.items()}
    return params, fit.final_loss, f"{backend.name} {backend.version}"


def _training_spec():
    return dataclasses.replace(
        RubricTask().model_spec(SCHEMA),
        l2_to_reference=0.0,
        optimizer=Optimizer(learning_rate=LEARNING_RATE),
        batch_size=32,
        seed=SEED,
    )


def held_out_scores(params: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """The base grader on each held-out split, before any grade of its teacher (blind) and with
    every other answer of it graded in a random order."""
    from satchel.model import reference

    task = RubricTask()
    spec = task.model_spec(SCHEMA)
    scores: dict[str, dict[str, float]] = {}
    for name, (source, split) in HELD_OUT.items():
        answers = load_semeval(SEMEVAL_CSV, (split,)) if source == "semeval" else load_saf(SAF_DIR, (split,))
        y = labels(answers)
        for mode, seed in (("blind", None), ("in order", SEED)):
            x = graded_in_order(answers, seed=seed)
            m = task.metrics(Dataset.of(x, y, schema=SCHEMA), reference.predict(spec, params, x))
            scores[f"{name} ({mode})"] = {"n": len(answers), **{k: round(v, 4) for k, v in m.items()}}
    return scores


def train(backend_name: str, epochs: int, out: Path) -> dict[str, object]:
    """Train, score and write the base weights; returns the metadata written to the json."""
    semeval = load_semeval(SEMEVAL_CSV, ("train",))
    saf = load_saf(SAF_DIR, ("training",))
    data = training_set(semeval, saf)
    params, final_loss, backend = train_params(data, backend_name, epochs)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **params)  # type: ignore[arg-type]  # numpy stubs: **arrays could name allow_pickle
    saf_files = sorted((SAF_DIR / "training" / "english").glob("*.xml"))
    meta: dict[str, object] = {
        "spec_hash": RubricTask().model_spec(SCHEMA).hash,
        "training_spec_hash": _training_spec().hash,
        "feature_schema_hash": SCHEMA.hash,
        "feature_schema_version": SCHEMA.version,
        "backend": backend,
        "epochs": epochs,
        "learning_rate": LEARNING_RATE,
        "final_train_loss": round(final_loss, 5),
        "data": {
            "semeval": {
                "file": SEMEVAL_CSV.name,
                "sha256": hashlib.sha256(SEMEVAL_CSV.read_bytes()).hexdigest(),
                "split": "train",
                "answers": len(semeval),
                "source": "SemEval-2013 Task 7 2-way (Dzikovska et al. 2013), both corpora",
            },
            "saf": {
                "split": "training/english",
                "answers": len(saf),
                "questions": len(saf_files),
                "sha256": hashlib.sha256(b"".join(p.read_bytes() for p in saf_files)).hexdigest(),
                "source": "SAF (Filighera et al. 2022), scores x4 rounded to 0..4",
            },
            "rows": len(data),
        },
        "scores": held_out_scores(params),
    }
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return meta


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("litert", "onnx"), default="onnx")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--out", type=Path, default=BASE_WEIGHTS)
    args = parser.parse_args(argv)
    for path in (SEMEVAL_CSV, SAF_DIR):
        if not path.exists():
            raise SystemExit(
                f"{path} not found; the public data is read from ../shared/data beside the repository"
            )
    meta: dict[str, Any] = train(args.backend, args.epochs, args.out)
    for name, s in meta["scores"].items():
        print(
            f"{name:36s} n={s['n']:5d} pearson={s['pearson']:.3f} qwk={s['qwk']:.3f} "
            f"accuracy={s['accuracy']:.3f} nll={s['grade_nll']:.3f}"
        )
    print(f"wrote {args.out} and {args.out.with_suffix('.json').name}")


if __name__ == "__main__":
    main()
