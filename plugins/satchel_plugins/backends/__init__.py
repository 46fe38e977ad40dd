"""Built-in training backends: ``litert`` (TensorFlow compiles, ``ai_edge_litert`` runs) and
``onnx`` (ONNX Runtime training, without torch).

Both train the same :class:`~satchel.model_spec.ModelSpec` from the same initial weights and
minimise the objective of :mod:`satchel.reference`; their Adam state shares one layout, so
weights and optimizer state move between them. Importing this package is light — it is the
``backends`` entry point, loaded even for ``satchel --help`` — so the options load when the hook
runs, and TensorFlow, ``ai_edge_litert``, ``onnx`` and ``onnxruntime`` only when a backend
compiles or opens.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from satchel.hookspecs import hookimpl
from satchel_plugins._lazy import lazy_exports

if TYPE_CHECKING:
    from satchel.backend import TrainerBackend
    from satchel.records import BackendSpec
    from satchel_plugins.backends.options import LiteRTOptions, OnnxOptions

_EXPORTS = dict.fromkeys(("LiteRTOptions", "OnnxOptions"), ".options")


def _litert(options: LiteRTOptions, **_context: Any) -> TrainerBackend:
    from satchel_plugins.backends.litert import LiteRTBackend

    return LiteRTBackend(threads=options.threads)


def _onnx(options: OnnxOptions, **_context: Any) -> TrainerBackend:
    from satchel_plugins.backends.onnx_training import OnnxBackend

    return OnnxBackend(threads=options.threads)


@hookimpl
def satchel_trainer_backends() -> Iterator[BackendSpec]:
    from satchel.records import BackendSpec
    from satchel_plugins.backends.options import LiteRTOptions, OnnxOptions

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


__getattr__ = lazy_exports(globals(), _EXPORTS)


__all__ = ["LiteRTOptions", "OnnxOptions", "satchel_trainer_backends"]
