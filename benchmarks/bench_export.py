"""Exported inference artifacts: size and accuracy cost of quantization on each pipeline's real data.

For each built-in pipeline a model is trained with LiteRT on the older 80% of the real data's
samples (habit: the Loop export; language: the Anki log; rubric: the shipped base grader fine-tuned
on SAF ``training``), the same weights are exported by both backends (``Trainer.export``), and every
inference artifact is run by its runtime on the held-out samples (habit/language: the newest 20%;
rubric: SAF ``unseen_answers``). Deltas are artifact minus the float32 artifact of the same format.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.report import LOOP_CSV, SEMEVAL_CSV, Context, Section, TableBuilder
from satchel.model.backend import Weights
from satchel.model.dataset import Dataset
from satchel_plugins.backends import satchel_trainer_backends

ANKI_CSV = LOOP_CSV.parents[1] / "anki_revlog_niplav" / "anki_reviews.csv"
TITLE = "Exported models: quantization cost and size"
#: metrics reported per pipeline (name in task.metrics, label)
METRICS = {
    "habit": (("auc", "AUC"), ("log_loss", "log loss")),
    "language": (("auc", "AUC"), ("log_loss", "log loss")),
    "rubric": (("pearson", "Pearson"), ("qwk", "QWK")),
}


def _split(data: Dataset, share: float = 0.8) -> tuple[Dataset, Dataset]:
    cut = int(len(data) * share)

    def part(rows: slice) -> Dataset:
        return Dataset(
            data.x[rows],
            data.y[rows],
            data.weights[rows],
            data.schema,
            None if data.times is None else data.times[rows],
        )

    return part(slice(0, cut)), part(slice(cut, None))


def _habit() -> tuple[Any, Any, Dataset, Dataset, str] | None:
    if not LOOP_CSV.exists():
        return None
    from satchel_plugins.habit.features import HabitFeaturizer
    from satchel_plugins.habit.loop_import import LoopHabitsImporter
    from satchel_plugins.habit.task import HabitTask

    events = sorted((s.event for s in LoopHabitsImporter().read(LOOP_CSV)), key=lambda e: e.time)
    featurizer = HabitFeaturizer()
    data = featurizer.training_data(events, now=events[-1].time)
    return featurizer, HabitTask(), *_split(data), "Loop export, newest 20% of habit-days"


def _language() -> tuple[Any, Any, Dataset, Dataset, str] | None:
    if not ANKI_CSV.exists():
        return None
    from satchel_plugins.language.anki import AnkiReviewImporter
    from satchel_plugins.language.features import ReviewFeaturizer
    from satchel_plugins.language.task import LanguageTask

    events = sorted((s.event for s in AnkiReviewImporter().read(ANKI_CSV)), key=lambda e: e.time)
    featurizer = ReviewFeaturizer()
    data = featurizer.training_data(events, now=events[-1].time)
    return featurizer, LanguageTask(), *_split(data), "Anki log, newest 20% of reviews"


def _rubric() -> tuple[Any, Any, Dataset, Dataset, str] | None:
    from satchel_plugins.rubric.features import AnswerFeaturizer
    from satchel_plugins.rubric.saf import SAF_DIR, SCALE_MAX, load_saf
    from satchel_plugins.rubric.semeval import answer_events
    from satchel_plugins.rubric.task import RubricTask

    if not (SAF_DIR.exists() and SEMEVAL_CSV.exists()):
        return None
    featurizer = AnswerFeaturizer()

    def graded(split: str) -> Dataset:
        answers = load_saf(splits=(split,))
        events = answer_events(answers, [a.grade for a in answers], scale_max=SCALE_MAX)
        return featurizer.training_data(events, now=max(e.time for e in events))

    return featurizer, RubricTask(), graded("training"), graded("unseen_answers"), "SAF unseen_answers"


def _predict(path: Path, fmt: str, x: np.ndarray) -> np.ndarray:
    if fmt == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        runner = Interpreter(model_path=str(path)).get_signature_runner("infer")
        return np.concatenate([runner(x=x[i : i + 4096])["output"] for i in range(0, len(x), 4096)])
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["output"], {"x": x})[0]


def run(ctx: Context) -> Section:
    backends = {s.name: s.create() for s in satchel_trainer_backends()}
    loaders = {"habit": _habit, "language": _language, "rubric": _rubric}
    epochs = ctx.size(10, 2)
    table = TableBuilder(
        "Inference artifacts on each pipeline's real held-out data (delta = artifact - float32 "
        "of the same format)",
        (
            "pipeline",
            "artifact",
            "precision",
            "bytes",
            "metric 1",
            "delta 1",
            "metric 2",
            "delta 2",
            "max |Δ output|",
        ),
    )
    skipped = []
    for name, load in loaders.items():
        loaded = load()
        if loaded is None:
            skipped.append(name)
            continue
        featurizer, task, train, test, held_out = loaded
        spec = task.model_spec(featurizer.schema)
        base = task.base_params(featurizer.schema)
        start = Weights(dict(base)) if base is not None else None
        trainer = backends["litert"].open(backends["litert"].compile(spec, ctx.cache_dir), start)
        trainer.fit(train, epochs=epochs, seed=0)
        params = Weights(trainer.get_weights().params)
        onnx = backends["onnx"].open(backends["onnx"].compile(spec, ctx.cache_dir), params)
        x = np.ascontiguousarray(test.x, np.float32)
        (m1, l1), (m2, l2) = METRICS[name]
        with tempfile.TemporaryDirectory(prefix="satchel-bench-export-") as tmp:
            for exporter in (trainer, onnx):
                out = Path(tmp) / exporter.backend
                manifest = exporter.export(
                    out, feature_names=featurizer.schema.names, feature_schema_hash=featurizer.schema.hash
                )
                infer = [a for a in manifest.artifacts if a["purpose"] == "infer"]
                reference: dict[str, Any] = {}
                for a in infer:
                    pred = _predict(out / str(a["file"]), str(a["format"]), x)
                    scores = task.metrics(test, pred)
                    if a["precision"] == "float32":
                        reference[str(a["format"])] = (pred, scores)
                    ref_pred, ref_scores = reference[str(a["format"])]
                    table.add(
                        name,
                        a["file"],
                        a["precision"],
                        a["bytes"],
                        f"{l1} {scores[m1]:.4f}",
                        f"{scores[m1] - ref_scores[m1]:+.5f}",
                        f"{l2} {scores[m2]:.4f}",
                        f"{scores[m2] - ref_scores[m2]:+.5f}",
                        f"{np.abs(pred - ref_pred).max():.2e}",
                    )
        table.notes.append(
            f"{name}: trained on {len(train)} samples ({epochs} epochs, LiteRT), scored on "
            f"{len(test)} ({held_out}); {spec.n_params} parameters."
        )
    table.notes.append(
        "float16 .tflite: float16 weights dequantized at load; int8 .tflite: weight-only int8 per "
        "output channel (satchel rewrites the float32 model: the converter's dynamic-range mode "
        "skips tensors under 1024 elements, i.e. every kernel of these MLPs); int8 .onnx: "
        "onnxruntime.quantization.quantize_dynamic (int8 weights per channel, activations quantized "
        "per call). Sizes: int8 .tflite is the smallest .tflite of every pipeline (16-35% under float32); "
        "float16 .tflite saves 2% (language) and 18% (rubric) and adds 2% on habit; for networks this small an "
        "int8 .onnx carries more quantization nodes than it saves in weights (smaller only for rubric), "
        "and .ort files are larger than their .onnx source (flatbuffer layout, kernel hashes)."
    )
    if skipped:
        table.notes.append(f"Skipped (data absent under ../shared/data): {', '.join(skipped)}.")
    intro = (
        "What quantizing an exported model costs on the pipelines' real data, and what it saves in bytes. "
        "Every artifact is produced by `App.export_model` / `satchel export-model` and listed in the "
        "manifest with its size and its deviation on the golden rows; `tests/mobile/harness.py` runs them "
        "with the runtimes alone. On-device quantization-aware or int8 *training* was not found feasible "
        "with builtin ops (see docs/mobile.md)."
    )
    return Section("export", TITLE, intro, (table.build(),))
