"""Built-in training backends: ``litert`` (TensorFlow compiles, ``ai_edge_litert`` runs) and
``onnx`` (ONNX Runtime training, without torch).

Both train the same :class:`~satchel.model_spec.ModelSpec` from the same initial weights and
minimise the objective of :mod:`satchel.reference`; their Adam state shares one layout, so
weights and optimizer state move between them. Importing this package is light: TensorFlow,
``ai_edge_litert``, ``onnx`` and ``onnxruntime`` load only when a backend compiles or opens.
"""

from __future__ import annotations

from typing import Any, Iterator

from pydantic import BaseModel, ConfigDict, Field

from satchel.backend import TrainerBackend
from satchel.hookspecs import hookimpl
from satchel.records import BackendSpec


class LiteRTOptions(BaseModel):
    """Options of the ``litert`` backend."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threads: int = Field(1, ge=1, le=64, description="interpreter threads (1 is fastest for small MLPs)")


class OnnxOptions(BaseModel):
    """Options of the ``onnx`` backend."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threads: int = Field(1, ge=1, le=64, description="intra-op threads of every ORT session")


def _litert(options: LiteRTOptions, **_context: Any) -> TrainerBackend:
    from satchel_plugins.backends.litert import LiteRTBackend

    return LiteRTBackend(threads=options.threads)


def _onnx(options: OnnxOptions, **_context: Any) -> TrainerBackend:
    from satchel_plugins.backends.onnx_training import OnnxBackend

    return OnnxBackend(threads=options.threads)


@hookimpl
def satchel_trainer_backends() -> Iterator[BackendSpec]:
    yield BackendSpec("litert", factory=_litert, options=LiteRTOptions,
                      description="TensorFlow Lite / LiteRT: builtin-op .tflite with train/infer signatures")
    yield BackendSpec("onnx", factory=_onnx, options=OnnxOptions,
                      description="ONNX Runtime training 1.19: training, optimizer and inference ONNX models")


__all__ = ["LiteRTOptions", "OnnxOptions", "satchel_trainer_backends"]
