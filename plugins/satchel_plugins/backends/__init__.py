"""Built-in training backends: ``litert`` (TensorFlow compiles, ``ai_edge_litert`` runs) and
``onnx`` (ONNX Runtime training, without torch).

Both train the same :class:`~satchel.model.spec.ModelSpec` from the same initial weights and
minimise the objective of :mod:`satchel.model.reference`; their Adam state shares one layout, so
weights and optimizer state move between them. TensorFlow, ``ai_edge_litert``, ``onnx`` and
``onnxruntime`` load only when a backend compiles or opens.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from satchel.model.backend import TrainerBackend
from satchel.plugin.hookspecs import hookimpl
from satchel.plugin.records import BackendSpec
from satchel_plugins.backends.options import LiteRTOptions, OnnxOptions


def _litert(options: LiteRTOptions, **_context: Any) -> TrainerBackend:
    from satchel_plugins.backends.litert import LiteRTBackend

    return LiteRTBackend(threads=options.threads)


def _onnx(options: OnnxOptions, **_context: Any) -> TrainerBackend:
    from satchel_plugins.backends.onnx_training import OnnxBackend

    return OnnxBackend(threads=options.threads)


@hookimpl
def satchel_trainer_backends() -> Iterator[BackendSpec]:
    yield BackendSpec(
        "litert",
        factory=_litert,
        options=LiteRTOptions,
        description="TensorFlow Lite / LiteRT: builtin-op .tflite with train/infer signatures",
    )
    yield BackendSpec(
        "onnx",
        factory=_onnx,
        options=OnnxOptions,
        description="ONNX Runtime training 1.19: training, optimizer and inference ONNX models",
    )


__all__ = ["LiteRTOptions", "OnnxOptions", "satchel_trainer_backends"]
