"""satchel's training backends against bare runtime loops on the same artifacts and data.

For each network (10-16-8-1 bce, 256-64-5 softmax_ce) and backend, measures in one process:

- ``step``: time per training step inside ``fit(shuffle=False)`` (5 epochs of 2048 rows) versus a
  bare loop calling the runtime on the same pre-cut batches: satchel's per-step overhead;
- ``fit 2048`` / ``fit 250``: one shuffled epoch (250 rows: a padded partial batch) versus a bare
  loop that shuffles, pads, masks and steps itself;
- ``predict 1`` / ``predict 256``: ``Trainer.predict`` versus the runtime's own call
  (``SignatureRunner`` / ``InferenceSession.run`` on the exported model).

Bare loops use ``ai_edge_litert`` and ``onnxruntime.training.api`` directly, on the artifacts
satchel exported. Each figure is the best of several rounds, satchel and bare alternating.
Targets: fit <= 1.2x, single predict <= 2x.

Run: ``python -m benchmarks.bench_backends [--cache DIR] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from satchel.dataset import Dataset
from satchel.model_spec import Loss, ModelSpec, mlp
from satchel_plugins.backends import LiteRTOptions, OnnxOptions
from satchel_plugins.backends.litert import LiteRTBackend
from satchel_plugins.backends.onnx_training import OnnxBackend

NETWORKS: dict[str, ModelSpec] = {
    "10-16-8-1 bce": mlp(10, (16, 8), 1, seed=1),
    "256-64-5 softmax": mlp(256, (64,), 5, loss=Loss.softmax_ce(), seed=2),
}
TARGETS = {"step": 1.2, "fit 2048": 1.2, "fit 250": 1.2, "predict 1": 2.0}


def _data(spec: ModelSpec, n: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, spec.input_dim)).astype(np.float32)
    if spec.loss.kind == "softmax_ce":
        y = np.eye(spec.output_dim, dtype=np.float32)[rng.integers(0, spec.output_dim, n)]
    else:
        y = (x[:, :1] > 0).astype(np.float32)
    return Dataset.of(x, y, rng.uniform(0.5, 1.5, n).astype(np.float32))


def _pair(ours: Callable[[], object], theirs: Callable[[], object], repeat: int,
          rounds: int) -> tuple[float, float]:
    """Best mean seconds per call of each function, alternating rounds of ``repeat`` calls."""
    best = [float("inf"), float("inf")]
    for fn in (ours, theirs):
        fn()
    for _ in range(rounds):
        for i, fn in enumerate((ours, theirs)):
            t0 = time.perf_counter()
            for _ in range(repeat):
                fn()
            best[i] = min(best[i], (time.perf_counter() - t0) / repeat)
    return best[0], best[1]


def _batches(data: Dataset, bsz: int, order: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """What a hand-written loop does: gather in ``order``, pad the last batch, mask it."""
    nb = -(-len(order) // bsz)
    idx = np.resize(order, nb * bsz)
    x, y, w = data.x[idx], data.y[idx], data.weights[idx]
    w[len(order):] = 0.0
    return [(x[i:i + bsz], y[i:i + bsz], w[i:i + bsz]) for i in range(0, nb * bsz, bsz)]


class _BareLiteRT:
    def __init__(self, export: Path) -> None:
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(export / "model.tflite"), num_threads=1)
        self.train = interpreter.get_signature_runner("train")
        self.infer = interpreter.get_signature_runner("infer")

    def step(self, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> Any:
        return self.train(x=x, y=y, w=w)["loss"]

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.infer(x=x)["output"]


class _BareOnnx:
    def __init__(self, export: Path) -> None:
        import onnxruntime as ort

        from satchel_plugins.backends._ort import ort_training

        api = ort_training("api")
        so = ort.SessionOptions()
        so.intra_op_num_threads = so.inter_op_num_threads = 1
        self.state = api.CheckpointState.load_checkpoint(str(export / "checkpoint"))
        self.module = api.Module(str(export / "training_model.onnx"), self.state, session_options=so)
        self.optimizer = api.Optimizer(str(export / "optimizer_model.onnx"), self.module)
        manifest = json.loads((export / "manifest.json").read_text())
        self.optimizer.set_learning_rate(manifest["spec"]["optimizer"]["learning_rate"])
        self.session = ort.InferenceSession(str(export / "model.onnx"), so,
                                            providers=["CPUExecutionProvider"])

    def step(self, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> Any:
        loss = self.module(x, y, w)
        self.optimizer.step()
        self.module.lazy_reset_grad()
        return loss

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(["output"], {"x": x})[0]


def measure(backend: Any, bare_cls: type, spec: ModelSpec, cache: Path,
            rounds: int) -> dict[str, tuple[float, float]]:
    """``{metric: (satchel seconds, bare seconds)}`` for one backend and network."""
    compiled = backend.compile(spec, cache)
    trainer = backend.open(compiled)
    with tempfile.TemporaryDirectory() as tmp:
        trainer.export(Path(tmp), feature_names=tuple(f"f{i}" for i in range(spec.input_dim)),
                       feature_schema_hash="bench")
        bare = bare_cls(Path(tmp))
    big, small = _data(spec, 2048, 0), _data(spec, 250, 1)
    bsz, epochs = spec.batch_size, 5
    pre_cut = _batches(big, bsz, np.arange(len(big)))
    steps = len(pre_cut) * epochs
    rng = np.random.default_rng(0)

    def bare_steps() -> None:
        for _ in range(epochs):
            for x, y, w in pre_cut:
                bare.step(x, y, w)

    def bare_fit(data: Dataset) -> None:
        losses = [bare.step(x, y, w) for x, y, w in _batches(data, bsz, rng.permutation(len(data)))]
        float(np.mean(losses))

    x1, xb = big.x[:1].copy(), big.x[:256].copy()
    out: dict[str, tuple[float, float]] = {}
    ours, theirs = _pair(lambda: trainer.fit(big, epochs, shuffle=False), bare_steps, 1, 2 * rounds)
    out["step"] = (ours / steps, theirs / steps)
    out["fit 2048"] = _pair(lambda: trainer.fit(big, 1, seed=1), lambda: bare_fit(big), 3, rounds)
    out["fit 250"] = _pair(lambda: trainer.fit(small, 1, seed=1), lambda: bare_fit(small), 20, rounds)
    out["predict 1"] = _pair(lambda: trainer.predict(x1), lambda: bare.predict(x1), 2000, rounds)
    out["predict 256"] = _pair(lambda: trainer.predict(xb), lambda: bare.predict(xb), 200, rounds)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=None, help="compile cache (default: a temp dir)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds per figure")
    args = parser.parse_args(argv)
    from rich.console import Console
    from rich.table import Table

    table = Table(title="satchel vs bare runtime (µs; best of rounds; lower ratio is better)")
    for column in ("network", "backend", "metric", "satchel µs", "bare µs", "ratio", "target"):
        table.add_column(column, no_wrap=True,
                         justify="right" if "µs" in column or column in ("ratio", "target") else "left")
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp)
        backends = [(LiteRTBackend(LiteRTOptions().threads), _BareLiteRT),
                    (OnnxBackend(OnnxOptions().threads), _BareOnnx)]
        for net, spec in NETWORKS.items():
            for backend, bare_cls in backends:
                for metric, (ours, theirs) in measure(backend, bare_cls, spec, cache, args.rounds).items():
                    ratio = ours / theirs
                    target = TARGETS.get(metric)
                    mark = "" if target is None else f"≤{target} " + ("✓" if ratio <= target else "✗")
                    table.add_row(net, backend.name, metric, f"{ours * 1e6:.1f}", f"{theirs * 1e6:.1f}",
                                  f"{ratio:.2f}", mark)
    Console(width=100).print(table)


if __name__ == "__main__":
    main()
