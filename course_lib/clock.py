"""Time for the lessons: UTC wall-clock time, a clock a lesson can move by hand, and how long a call takes."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # stored naive, always UTC


class ManualClock:
    """A clock the lesson moves by hand, so "the lease expired" takes no waiting."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or utc_now()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    """Median milliseconds of `repeat` calls: one slow call on a noisy machine does not move it."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)
