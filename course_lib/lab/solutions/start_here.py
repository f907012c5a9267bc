"""Reference solution for notebook 00's exercise."""

from __future__ import annotations

from course_lib.lab import race
from course_lib.lab.exercises.start_here import Counter


def safe_increment(counter: Counter) -> None:
    """The read and the write happen under one lock, so no other caller can slip in between."""
    with counter.lock:
        seen = counter.read()
        race.point("after_read")
        counter.write(seen + 1)
        race.note(f"wrote {seen + 1}")
