"""Exercise for notebook 00: fix the lost update with a lock, keeping the pause point."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from course_lib.lab import race
from course_lib.lab.exercises import exercise


class Counter:
    """A shared number with a separate read and write: the smallest thing that can lose an update."""

    def __init__(self) -> None:
        self.value = 0
        self.lock = threading.Lock()

    def read(self) -> int:
        return self.value

    def write(self, value: int) -> None:
        self.value = value


def naive_increment(counter: Counter) -> None:
    """Read, pause, write: under the harness's lock step both callers read 0 and both write 1."""
    seen = counter.read()
    race.point("after_read")
    counter.write(seen + 1)
    race.note(f"wrote {seen + 1}")


def run_increments(increment: Callable[[Counter], None], callers: int, schedule: str | None = None,
                   ) -> tuple[int, race.RaceResult]:
    """Let `callers` callers each run `increment` once on a fresh counter; return its final value and the race."""
    counter = Counter()
    result = race.run(lambda _caller: increment(counter), callers=callers, schedule=schedule)
    return counter.value, result


@exercise("safe_increment",
          concept="a read and the write that depends on it must happen with nobody else in between: what in Counter"
                  " can make the pair one step?",
          outline="hold counter.lock from before the read until after the write; "
          "keep race.point('after_read') between them")
def check_safe_increment(fn: Callable[[Counter], None]) -> Iterator[tuple[str, bool]]:
    value, result = run_increments(fn, callers=2, schedule="round_robin")
    result.raise_first_error()
    yield "the pause point 'after_read' is still reached by both callers", result.count("after_read") == 2
    yield f"lock step, 2 callers: counter ends at 2 (got {value})", value == 2
    value, result = run_increments(fn, callers=16)
    result.raise_first_error()
    yield f"16 callers released together: counter ends at 16 (got {value})", value == 16
