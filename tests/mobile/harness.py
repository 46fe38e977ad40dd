"""A mobile app's view of a satchel export, in Python with the runtimes only.

    python -I tests/mobile/harness.py EXPORT_DIR      # prints a JSON report; exit 1 on any mismatch

It reads nothing but ``EXPORT_DIR`` (``manifest.json``, ``golden.json`` and the artifacts) and uses
only NumPy and the runtime the manifest names: ``ai_edge_litert`` for ``litert`` exports,
``onnxruntime`` (training 1.19.2) for ``onnx`` ones. satchel, its plugins and TensorFlow are
blocked from import. Each step is what an Android/iOS app does (see docs/mobile.md):

1. verify every artifact's size and SHA-256 against the manifest, and the spec and feature schema
   each model file embeds;
2. featurize the golden events with the app's own featurizer and compare with the golden features
   (here: an independent port of ``habit_daily/1`` written from the manifest's feature docs; other
   schemas are reported as having no port in this harness);
3. predict the golden rows with every inference artifact (float32, float16, int8, .ort);
4. pad the golden batch to the manifest's training batch (zero-weight rows), take one training
   step, and compare the loss and the weights;
5. after training, predict with the updated model (LiteRT: the same interpreter; ONNX: an inference
   model re-exported by the training runtime) and compare with a NumPy forward pass of the spec.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import math
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

for _blocked in ("satchel", "satchel_plugins", "tensorflow", "torch"):
    sys.modules[_blocked] = None  # type: ignore[assignment]  # importing them now raises ImportError

import numpy as np  # noqa: E402

CONTRACT_VERSION = "satchel-export/2"


class Report:
    def __init__(self) -> None:
        self.checks: list[dict[str, object]] = []

    def check(self, name: str, ok: bool, **detail: object) -> None:
        self.checks.append({"check": name, "ok": bool(ok), **detail})

    def close(self, a: Any, b: Any, name: str, atol: float, rtol: float = 0.0) -> None:
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        err = float(np.abs(a - b).max()) if a.size else 0.0
        self.check(
            name, a.shape == b.shape and bool(np.allclose(a, b, atol=atol, rtol=rtol)), max_abs_error=err
        )


# --------------------------------------------------------------------------- the app's featurizer


def _log_scale(n: float, at_one: float) -> float:
    return min(math.log1p(n) / math.log1p(at_one), 1.5)


def habit_daily_rows(events: list[dict[str, Any]], now: datetime) -> tuple[list[str], np.ndarray]:
    """``habit_daily/1`` for the row the app predicts at ``now`` (UTC days): one row per habit with
    events in the last 31 days, from day d = today - 1, written from the manifest's feature docs."""

    def day_hour(stamp: str) -> tuple[int, float]:
        t = datetime.fromisoformat(stamp).timestamp()
        day = math.floor(t / 86400.0)
        return day, (t - day * 86400.0) / 3600.0

    today = math.floor(now.timestamp() / 86400.0)
    d, first = today - 1, today - 31
    habit_kinds = ("habit_completed", "habit_skipped", "reminder_shown", "reminder_tapped")
    start: dict[str, int] = {}
    done: dict[str, dict[int, list[float]]] = {}
    shown: dict[str, dict[int, int]] = {}
    tapped: dict[str, dict[int, int]] = {}
    opens: dict[int, int] = {}
    in_window: set[str] = set()
    for e in events:
        day, hour = day_hour(e["time"])
        if day > today:
            continue
        if e["type"] == "app_opened":
            opens[day] = opens.get(day, 0) + 1
            continue
        if e["type"] not in habit_kinds:
            continue
        h = str(e["data"]["habit"])
        start[h] = min(start.get(h, day), day)
        if day < first:
            continue
        in_window.add(h)
        if e["type"] == "habit_completed":
            done.setdefault(h, {}).setdefault(day, []).append(hour)
        elif e["type"] == "reminder_shown":
            shown.setdefault(h, {})[day] = shown.get(h, {}).get(day, 0) + 1
        elif e["type"] == "reminder_tapped":
            tapped.setdefault(h, {})[day] = tapped.get(h, {}).get(day, 0) + 1
    habits = sorted(in_window)
    rows = []
    for h in habits:
        days_done = {day for day in done.get(h, {}) if first <= day <= today}
        age = max(d - start[h] + 1, 0)

        def rate(k: int) -> float:
            return (sum(1 for day in range(d - k + 1, d + 1) if day in days_done) + 0.5) / (min(age, k) + 1.0)

        misses = [day for day in range(first, d + 1) if day not in days_done]
        streak = min(d - (max(misses) if misses else first - 1), 30)
        hits = [day for day in range(first, d + 1) if day in days_done]
        since = min(d - max(hits), 30) if hits else 30
        wk_done = sum(1 for back in (6, 13, 20, 27) if d - back in days_done)
        wk_seen = sum(1 for back in (6, 13, 20, 27) if d - back >= start[h])
        window = range(d - 29, d + 1)
        shown30 = sum(shown.get(h, {}).get(day, 0) for day in window)
        taps30 = sum(tapped.get(h, {}).get(day, 0) for day in window)
        sin_sum = cos_sum = 0.0
        for day in window:
            hours = done.get(h, {}).get(day)
            if hours:
                sin_sum += sum(math.sin(2 * math.pi * x / 24) for x in hours) / len(hours)
                cos_sum += sum(math.cos(2 * math.pi * x / 24) for x in hours) / len(hours)
        n_done = max(sum(1 for day in window if day in days_done), 1)
        tomorrow = 2 * math.pi * ((d + 1 + 3) % 7) / 7  # 1970-01-01 was a Thursday; Monday = 0
        rows.append(
            [
                _log_scale(streak, 30),
                rate(7),
                rate(30),
                (wk_done + 0.5) / (wk_seen + 1.0),
                _log_scale(since, 30),
                _log_scale(opens.get(d, 0), 10),
                _log_scale(tapped.get(h, {}).get(d, 0), 3),
                (min(taps30, shown30) + 0.5) / (shown30 + 1.0),
                sin_sum / n_done,
                cos_sum / n_done,
                math.sin(tomorrow),
                math.cos(tomorrow),
            ]
        )
    return habits, np.array(rows, np.float32).reshape(len(rows), 12)


#: the featurizers this "app" implements, by feature schema version
FEATURIZERS: dict[str, Callable[[list[dict[str, Any]], datetime], tuple[list[str], np.ndarray]]] = {
    "habit_daily/1": habit_daily_rows,
}


# --------------------------------------------------------------------------- the model, from the manifest


def padded(x: np.ndarray, y: np.ndarray, w: np.ndarray, batch: int) -> tuple[np.ndarray, ...]:
    """The manifest's padding rule: repeat the real rows in order, weight 0 on the copies."""
    idx = np.arange(batch) % len(x)
    return (
        x[idx].astype(np.float32),
        y[idx].astype(np.float32),
        np.where(np.arange(batch) < len(x), w[idx], 0.0).astype(np.float32),
    )


def forward(spec: dict[str, Any], params: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The spec's network in NumPy: dense layers, activations, then the loss's link."""
    h = np.asarray(x, np.float64)
    for i, layer in enumerate(spec["layers"]):
        h = h @ params[f"dense_{i}_kernel"] + params[f"dense_{i}_bias"]
        h = {
            "relu": lambda v: np.maximum(v, 0.0),
            "tanh": np.tanh,
            "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
            "linear": lambda v: v,
        }[layer["activation"]](h)
    link = spec["loss"]["link"]
    if link == "sigmoid":
        return 1 / (1 + np.exp(-h))
    if link == "softmax":
        e = np.exp(h - h.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return h


def _arrays(d: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, np.float32) for k, v in d.items()}


def run_litert(root: Path, manifest: dict[str, Any], golden: dict[str, Any], report: Report) -> None:
    from ai_edge_litert.interpreter import Interpreter

    x = np.asarray(golden["infer"]["x"], np.float32)
    infer = golden["infer"]
    for a in manifest["artifacts"]:
        if a["format"] == "tflite" and "infer" in a.get("signatures", []):
            runner = Interpreter(model_path=str(root / a["file"])).get_signature_runner("infer")
            want = infer["artifacts"].get(a["role"], {"output": infer["output"], "atol": infer["atol"]})
            report.close(
                runner(x=x)["output"],
                want["output"],
                f"infer {a['file']} ({a['precision']})",
                atol=want["atol"],
                rtol=infer["rtol"],
            )
    train = golden.get("train")
    if train is None:
        return
    interpreter = Interpreter(model_path=str(root / manifest["files"]["model"]))
    batch = manifest["training"]["batch_size"]
    xp, yp, wp = padded(np.asarray(train["x"]), np.asarray(train["y"]), np.asarray(train["w"]), batch)
    loss = interpreter.get_signature_runner("train")(x=xp, y=yp, w=wp)["loss"]
    report.close(
        loss,
        train["loss"],
        f"train step on {len(train['x'])} rows padded to {batch}: loss",
        atol=0.0,
        rtol=train["loss_rtol"],
    )
    params = interpreter.get_signature_runner("get_weights")()
    report.close(
        np.concatenate([params[k].ravel() for k in sorted(params)]),
        np.concatenate([np.ravel(train["params_after"][k]) for k in sorted(params)]),
        "train step: weights after",
        atol=train["params_atol"],
    )
    after = interpreter.get_signature_runner("infer")(x=x)["output"]
    report.close(
        after,
        forward(manifest["spec"], _arrays(train["params_after"]), x),
        "infer after training = NumPy forward of the trained weights",
        atol=1e-5,
        rtol=1e-4,
    )


def _ort_training_api() -> Any:
    """``onnxruntime.training.api`` without running the package ``__init__`` (it imports torch)."""
    import onnxruntime  # noqa: F401

    if "onnxruntime.training" not in sys.modules:
        spec = importlib.util.find_spec("onnxruntime.training")
        assert spec is not None, "onnxruntime has no training support: install onnxruntime-training==1.19.2"
        sys.modules["onnxruntime.training"] = importlib.util.module_from_spec(spec)
    return importlib.import_module("onnxruntime.training.api")


def run_onnx(root: Path, manifest: dict[str, Any], golden: dict[str, Any], report: Report) -> None:
    import onnxruntime as ort

    x = np.asarray(golden["infer"]["x"], np.float32)
    infer = golden["infer"]
    for a in manifest["artifacts"]:
        if a["purpose"] == "infer":
            session = ort.InferenceSession(str(root / a["file"]), providers=["CPUExecutionProvider"])
            want = infer["artifacts"][a["role"]]
            report.close(
                session.run(["output"], {"x": x})[0],
                want["output"],
                f"infer {a['file']} ({a['precision']})",
                atol=want["atol"],
                rtol=infer["rtol"],
            )
    train = golden.get("train")
    if train is None:
        return
    api = _ort_training_api()
    files, batch = manifest["files"], manifest["training"]["batch_size"]
    xp, yp, wp = padded(np.asarray(train["x"]), np.asarray(train["y"]), np.asarray(train["w"]), batch)
    for suffix in ("", "_ort"):  # the ONNX models, then their ORT-format copies (ONNX Runtime Mobile)
        if f"training{suffix}" not in files:
            continue
        state = api.CheckpointState.load_checkpoint(str(root / files["checkpoint"]))
        module = api.Module(str(root / files[f"training{suffix}"]), state, str(root / files[f"eval{suffix}"]))
        optimizer = api.Optimizer(str(root / files[f"optimizer{suffix}"]), module)
        optimizer.set_learning_rate(manifest["training"]["optimizer"]["learning_rate"])
        module.train()
        loss, _ = module(xp, yp, wp)
        optimizer.step()
        module.lazy_reset_grad()
        tag = "ORT format" if suffix else "ONNX"
        report.close(
            loss,
            train["loss"],
            f"train step ({tag}) on {len(train['x'])} rows padded to {batch}: loss",
            atol=0.0,
            rtol=train["loss_rtol"],
        )
        names = sorted(train["params_after"])
        report.close(
            np.concatenate([np.asarray(state.parameters[n].data).ravel() for n in names]),
            np.concatenate([np.ravel(train["params_after"][n]) for n in names]),
            f"train step ({tag}): weights after",
            atol=train["params_atol"],
        )
        if suffix:
            continue  # export_model_for_inferencing parses ONNX: it needs the .onnx eval model
        with tempfile.TemporaryDirectory() as tmp:
            refreshed = Path(tmp) / "refreshed.onnx"
            module.export_model_for_inferencing(str(refreshed), ["output"])
            session = ort.InferenceSession(str(refreshed), providers=["CPUExecutionProvider"])
            report.close(
                session.run(["output"], {"x": x})[0],
                forward(manifest["spec"], _arrays(train["params_after"]), x),
                "re-exported inference model = NumPy forward of the trained weights",
                atol=1e-5,
                rtol=1e-4,
            )


def check_embedded_metadata(root: Path, manifest: dict[str, Any], report: Report) -> None:
    """Each model file names its spec and feature schema (TFLite ``Model.metadata["satchel"]``,
    ONNX ``metadata_props``), so a file separated from its manifest is still identifiable."""
    want = {
        "satchel.spec_hash": manifest["spec_hash"],
        "satchel.feature_schema_hash": manifest["feature_schema_hash"],
    }
    for a in manifest["artifacts"]:
        if a["format"] == "tflite":
            from ai_edge_litert import schema_py_generated as schema

            model = schema.Model.GetRootAsModel((root / a["file"]).read_bytes(), 0)
            entries = {
                (model.Metadata(i).Name() or b"").decode(): model.Metadata(i).Buffer()
                for i in range(model.MetadataLength())
            }
            tag = (
                json.loads(model.Buffers(entries["satchel"]).DataAsNumpy().tobytes())
                if "satchel" in entries
                else {}
            )
        elif a["format"] in ("onnx", "ort") and a["purpose"] == "infer":
            import onnxruntime as ort

            session = ort.InferenceSession(str(root / a["file"]), providers=["CPUExecutionProvider"])
            tag = session.get_modelmeta().custom_metadata_map
        else:
            continue
        report.check(f"embedded metadata {a['file']}", all(tag.get(k) == v for k, v in want.items()))


def main(directory: str) -> int:
    root = Path(directory)
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    report = Report()
    report.check(
        "contract version",
        manifest["contract_version"] == CONTRACT_VERSION,
        found=manifest["contract_version"],
    )
    for a in manifest["artifacts"]:
        data = (root / a["file"]).read_bytes()
        report.check(
            f"digest {a['file']}", len(data) == a["bytes"] and hashlib.sha256(data).hexdigest() == a["sha256"]
        )
    if not manifest.get("golden"):
        report.check("golden vectors present", False, hint="the featurizer has no sample_events()")
        print(json.dumps({"ok": False, "backend": manifest["backend"], "checks": report.checks}, indent=1))
        return 1
    golden = json.loads((root / manifest["golden"]).read_text(encoding="utf-8"))
    check_embedded_metadata(root, manifest, report)
    featurize = FEATURIZERS.get(manifest.get("feature_schema_version", ""))
    if featurize is None:
        report.check(
            "featurize golden events",
            True,
            skipped=f"no port of {manifest.get('feature_schema_version')!r} in this harness",
        )
    else:
        keys, x = featurize(golden["events"]["events"], datetime.fromisoformat(golden["events"]["now"]))
        report.check("featurize golden events: keys", keys == golden["features"]["keys"])
        report.close(
            x, golden["features"]["x"], "featurize golden events: features", atol=golden["features"]["atol"]
        )
    if manifest["backend"] == "litert":
        run_litert(root, manifest, golden, report)
    else:
        run_onnx(root, manifest, golden, report)
    leaked = [
        m for m in ("satchel", "satchel_plugins", "tensorflow", "torch") if sys.modules.get(m) is not None
    ]
    report.check("runtime only (no satchel, TensorFlow or torch imported)", not leaked, imported=leaked)
    ok = all(c["ok"] for c in report.checks)
    print(json.dumps({"ok": ok, "backend": manifest["backend"], "checks": report.checks}, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
