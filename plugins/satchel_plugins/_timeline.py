"""Local calendar arithmetic shared by the featurizers: event times → local day numbers and hours."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from satchel.errors import ConfigError

_EPOCH = date(1970, 1, 1)


def zone(name: str, where: str) -> tzinfo:
    """The IANA time zone ``name``; a ConfigError naming ``where`` when it does not exist."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            [(where, f"unknown time zone {name!r}; use an IANA name such as 'Europe/Paris'")]
        ) from None


def local_day_and_hour(times: Sequence[datetime], tz: tzinfo) -> tuple[np.ndarray, np.ndarray]:
    """Local day numbers (days since 1970-01-01, int64) and fractional local hours of ``times``."""
    n = len(times)
    secs = np.fromiter((t.timestamp() for t in times), np.float64, n)
    offsets = np.fromiter((_offset(t.astimezone(tz)) for t in times), np.float64, n)
    local = secs + offsets
    days = np.floor(local / 86400.0).astype(np.int64)
    hours = (local - days * 86400.0) / 3600.0
    return days, hours


def local_day(t: datetime, tz: tzinfo) -> int:
    """Local day number of one instant."""
    return (t.astimezone(tz).date() - _EPOCH).days


def day_to_date(day: int) -> date:
    return _EPOCH + timedelta(days=int(day))


def weekday(days: np.ndarray) -> np.ndarray:
    """Monday = 0 … Sunday = 6 for day numbers (1970-01-01 was a Thursday)."""
    return (np.asarray(days) + 3) % 7


def day_start(days: np.ndarray, tz: tzinfo) -> np.ndarray:
    """Epoch seconds (float64) at which each local day number begins in ``tz``."""
    days = np.asarray(days, np.int64)
    unique, inverse = np.unique(days, return_inverse=True)
    starts = np.fromiter(
        (datetime.combine(day_to_date(d), time(0), tzinfo=tz).timestamp() for d in unique),
        np.float64,
        len(unique),
    )
    return starts[inverse].reshape(days.shape)


def _offset(local: datetime) -> float:
    """Seconds east of UTC of an aware datetime."""
    offset = local.utcoffset()
    return 0.0 if offset is None else offset.total_seconds()
