"""Training data a runner's pass keeps between its plan and its trainings, in memory within a byte budget
(with the sample-cache entry its training writes)."""

from __future__ import annotations

from satchel.app._sample_cache import Prepared


class PlannedData:
    """Training data kept between a pass's plan and its trainings (in memory, within a byte budget)."""

    def __init__(self, budget_bytes: int) -> None:
        self._left = budget_bytes
        self._data: dict[tuple[str, str], tuple[object, Prepared, int]] = {}

    def put(self, pseudo: str, pipeline: str, version: object, prepared: Prepared) -> None:
        data, pending = prepared.data, prepared.pending
        size = sum(getattr(v, "nbytes", 0) for v in getattr(data, "__dict__", {}).values())
        size += 0 if pending is None else len(pending.state) + len(pending.mark.ids)
        if 0 < size <= self._left:
            self._left -= size
            self._data[pseudo, pipeline] = (version, prepared, size)

    def take(self, pseudo: str, pipeline: str, version: object) -> Prepared | None:
        """The data put for the learner at ``version`` (once), else None."""
        entry = self._data.pop((pseudo, pipeline), None)
        if entry is None:
            return None
        self._left += entry[2]
        return entry[1] if entry[0] == version else None
