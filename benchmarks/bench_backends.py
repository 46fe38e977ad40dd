"""satchel's trainers against bare runtime loops on the same artifacts and data, per step and per call.

For each network and backend, in one process: ``step`` (per training step inside ``fit`` without
shuffling vs a bare loop over the same pre-cut batches), ``fit`` (one shuffled epoch of 2,048 and of
250 rows — a padded partial batch — vs a bare loop that shuffles, pads and masks itself), single-row
prediction latency p50/p99 (``Trainer.predict`` vs the runtime's own call) and batch throughput.
"""

from __future__ import annotations

import numpy as np

from benchmarks.bare import Bare, bare_from, batches
from benchmarks.report import Context, Section, TableBuilder, latencies, paired, percentile, ratio
from satchel.model.dataset import Dataset
from satchel.model.spec import Loss, ModelSpec, mlp

NETWORKS: dict[str, ModelSpec] = {
    "12-16-8-1 bce (habit)": mlp(12, (16, 8), 1, seed=1),
    "256-64-5 softmax": mlp(256, (64,), 5, loss=Loss.softmax_ce(), seed=2),
}


def _data(spec: ModelSpec, n: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, spec.input_dim)).astype(np.float32)
    if spec.loss.kind == "softmax_ce":
        y = np.eye(spec.output_dim, dtype=np.float32)[rng.integers(0, spec.output_dim, n)]
    else:
        y = (x[:, :1] > 0).astype(np.float32)
    return Dataset.of(x, y, rng.uniform(0.5, 1.5, n).astype(np.float32))


def backends() -> dict[str, object]:
    from satchel_plugins.backends.litert import LiteRTBackend
    from satchel_plugins.backends.onnx_training import OnnxBackend

    return {"litert": LiteRTBackend(), "onnx": OnnxBackend()}


def run(ctx: Context) -> Section:
    rounds = ctx.size(7, 2)
    train = TableBuilder(
        "Training: satchel Trainer vs bare runtime loop (µs, best of rounds)",
        ("network", "backend", "metric", "satchel µs", "bare µs", "ratio"),
    )
    predict = TableBuilder(
        "Prediction: latency of one row and batch throughput",
        ("network", "backend", "metric", "satchel", "bare", "ratio"),
    )
    for net, spec in NETWORKS.items():
        for name, backend in backends().items():
            trainer = backend.open(backend.compile(spec, ctx.cache_dir))  # type: ignore[attr-defined]
            bare = bare_from(trainer, name)
            _training(train, net, name, spec, trainer, bare, rounds)
            _prediction(predict, net, name, spec, trainer, bare, ctx)
    train.notes += [
        "`step`: per step inside `fit(shuffle=False)`, 5 epochs of 2,048 rows, vs the bare loop over "
        "the same pre-cut batches. `fit N`: one shuffled epoch incl. padding and masking on both sides.",
        "Target: ≤ 1.2x. satchel can beat the bare loop: it calls the interpreter with cached "
        "tensor indices instead of the signature runner's per-call lookups.",
    ]
    predict.notes += [
        "Single row: `Trainer.predict(x[:1])` vs `SignatureRunner`/`InferenceSession.run`; "
        "p50/p99 of individual calls. Target: ≤ 2x at p50.",
        "Throughput: rows per second of one `predict` call on a batch.",
        "ratio is always satchel time / bare time: lower is better.",
    ]
    return Section(
        "backends", "Training backends vs bare runtimes", __doc__ or "", (train.build(), predict.build())
    )


def _training(
    table: TableBuilder, net: str, name: str, spec: ModelSpec, trainer: object, bare: Bare, rounds: int
) -> None:
    big, small = _data(spec, 2048, 0), _data(spec, 250, 1)
    bsz, epochs = spec.batch_size, 5
    pre_cut = batches(big, bsz, np.arange(len(big)))
    steps = len(pre_cut) * epochs
    rng = np.random.default_rng(0)

    def bare_steps() -> None:
        for _ in range(epochs):
            for x, y, w in pre_cut:
                bare.step(x, y, w)

    def bare_epoch(data: Dataset) -> None:
        float(np.mean([bare.step(x, y, w) for x, y, w in batches(data, bsz, rng.permutation(len(data)))]))

    fit = trainer.fit  # type: ignore[attr-defined]
    ours, theirs = paired(lambda: fit(big, epochs, shuffle=False), bare_steps, 1, 2 * rounds)
    rows = {
        "step": (ours / steps, theirs / steps),
        "fit 2048": paired(lambda: fit(big, 1, seed=1), lambda: bare_epoch(big), 3, rounds),
        "fit 250": paired(lambda: fit(small, 1, seed=1), lambda: bare_epoch(small), 20, rounds),
    }
    for metric, (a, b) in rows.items():
        table.add(net, name, metric, a * 1e6, b * 1e6, ratio(a, b, 1.2))


def _prediction(
    table: TableBuilder, net: str, name: str, spec: ModelSpec, trainer: object, bare: Bare, ctx: Context
) -> None:
    predict = trainer.predict  # type: ignore[attr-defined]
    x = _data(spec, 4096, 2).x
    one = x[:1].copy()
    n = ctx.size(20_000, 2_000)
    ours, theirs = [], []
    for _ in range(4):  # alternate blocks so both see the same load
        ours += latencies(lambda: predict(one), n // 4)
        theirs += latencies(lambda: bare.predict(one), n // 4)
    for q in (50, 99):
        a, b = percentile(ours, q), percentile(theirs, q)
        table.add(net, name, f"1 row p{q} (µs)", a * 1e6, b * 1e6, ratio(a, b, 2.0 if q == 50 else None))
    for rows in (256, 4096):
        xb = x[:rows].copy()
        a, b = paired(lambda: predict(xb), lambda: bare.predict(xb), ctx.size(50, 10), ctx.size(5, 2))
        table.add(net, name, f"{rows} rows (rows/s)", rows / a, rows / b, ratio(a, b))
