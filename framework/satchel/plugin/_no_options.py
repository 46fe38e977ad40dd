"""``NoOptions``, in a module of its own so that importing :mod:`satchel.plugin.records` needs no pydantic."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class NoOptions(BaseModel):
    """Options model for components that take none."""

    model_config = ConfigDict(extra="forbid", frozen=True)


__all__ = ["NoOptions"]
