"""Options of the built-in backends (pydantic models; see :mod:`satchel_plugins.backends`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LiteRTOptions(BaseModel):
    """Options of the ``litert`` backend."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threads: int = Field(1, ge=1, le=64, description="interpreter threads (1 is fastest for small MLPs)")


class OnnxOptions(BaseModel):
    """Options of the ``onnx`` backend."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threads: int = Field(1, ge=1, le=64, description="intra-op threads of every ORT session")


__all__ = ["LiteRTOptions", "OnnxOptions"]
