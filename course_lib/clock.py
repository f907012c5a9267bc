"""Time for the lessons: UTC wall-clock time, and a clock a lesson can move by hand."""

from __future__ import annotations

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
