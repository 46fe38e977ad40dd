"""Training data a runner's pass keeps between its plan and its trainings, in memory within a byte budget."""

from __future__ import annotations

from typing import Any


class PlannedData:
    """Training data kept between a pass's plan and its trainings (in memory, within a byte budget)."""

    def __init__(self, budget_bytes: int) -> None:
        self._left = budget_bytes
        self._data: dict[tuple[str, str], tuple[object, Any, int]] = {}

    def put(self, pseudo: str, pipeline: str, version: object, data: Any) -> None:
        size = sum(getattr(v, "nbytes", 0) for v in getattr(data, "__dict__", {}).values())
        if 0 < size <= self._left:
            self._left -= size
            self._data[pseudo, pipeline] = (version, data, size)

    def take(self, pseudo: str, pipeline: str, version: object) -> Any | None:
        """The data put for the learner at ``version`` (once), else None."""
        entry = self._data.pop((pseudo, pipeline), None)
        if entry is None:
            return None
        self._left += entry[2]
        return entry[1] if entry[0] == version else None
