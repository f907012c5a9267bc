"""The concurrency harness: N callers released together, named pause points, a recorded timeline.

Races are the heart of this course, and a race that shows up one run in ten teaches nothing.
This harness makes them repeatable:

* `run(fn, callers=64)` releases every caller at once from a barrier: real concurrency, for
  stress runs that measure how often a flaw bites.
* `run(fn, callers=2, schedule="round_robin")` runs the callers in lock step: exactly one caller
  runs at a time, from one `point()` to the next, then hands over. The interleaving, and so the
  timeline, is the same on every run. `schedule=["A", "A", "B"]` names the turns explicitly.

Code under test marks its interesting moments with `race.point("after_check")`. Outside a race,
`point` does nothing, so the reference implementations keep their points permanently.

A caller that blocks (a row lock, a Redis lock) never reaches its next point. In lock step the
scheduler notices after `block_timeout`, records "blocked", and hands the turn on, so a lesson
can show "B waits for A's lock" instead of hanging.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

# Longer than any single step of a lesson takes on a loaded 2-core laptop when it is not blocked
# (a few ms of SQL), short enough that a demonstration with a blocked caller still feels instant.
DEFAULT_BLOCK_TIMEOUT_S = 0.5
# A whole race that has not finished in this time is stuck; failing beats hanging a notebook.
DEFAULT_TIMEOUT_S = 60.0

READY, RUNNING, PAUSED, BLOCKED, DONE = "ready", "running", "paused", "blocked", "done"


@dataclass(frozen=True)
class Event:
    """One moment of the timeline: which caller, what happened, when (s since release), in what order."""

    caller: str
    label: str
    t: float
    step: int


@dataclass
class Caller:
    """What a caller function receives: its name ("A", "B", ...) and index."""

    name: str
    index: int
    _run: _Race = field(repr=False)
    _go: threading.Event = field(default_factory=threading.Event, repr=False)
    _state: str = field(default=READY, repr=False)


@dataclass
class RaceResult:
    callers: list[str]
    results: dict[str, Any]
    errors: dict[str, BaseException]
    timeline: list[Event]
    elapsed: float
    lockstep: bool

    def order(self) -> list[tuple[str, str]]:
        """(caller, label) pairs in the order they happened: the interleaving, without times."""
        return [(e.caller, e.label) for e in self.timeline]

    def count(self, label: str) -> int:
        """How many times any caller recorded `label`."""
        return sum(e.label == label for e in self.timeline)

    def raise_first_error(self) -> None:
        for name in self.callers:
            if name in self.errors:
                raise self.errors[name]


class RaceTimeout(RuntimeError):
    """The callers did not all finish in time; the message lists where each one was."""


_current = threading.local()


def current() -> Caller | None:
    """The caller running on this thread, or None outside a race."""
    return getattr(_current, "caller", None)


def point(label: str) -> None:
    """A named pause point. In lock step the caller hands the turn on here; elsewhere it is recorded."""
    caller = current()
    if caller is not None:
        caller._run.reach_point(caller, label)


def note(label: str) -> None:
    """Record an event on the timeline without handing the turn on."""
    caller = current()
    if caller is not None:
        caller._run.record(caller, label)


class _Race:
    def __init__(self, names: Sequence[str], lockstep: bool, turns: Sequence[str], block_timeout: float) -> None:
        self.cond = threading.Condition()
        self.callers = [Caller(name, i, self) for i, name in enumerate(names)]
        self.lockstep = lockstep
        self.turns = list(turns)
        self.block_timeout = block_timeout
        self.timeline: list[Event] = []
        self.t0 = time.perf_counter()
        self._last_turn = -1

    def record(self, caller: Caller, label: str) -> None:
        with self.cond:
            self.timeline.append(Event(caller.name, label, time.perf_counter() - self.t0, len(self.timeline)))

    def reach_point(self, caller: Caller, label: str) -> None:
        self.record(caller, label)
        if not self.lockstep:
            return
        with self.cond:
            caller._go.clear()
            caller._state = PAUSED
            self.cond.notify_all()
        caller._go.wait()

    def finish(self, caller: Caller, label: str) -> None:
        self.record(caller, label)
        with self.cond:
            caller._state = DONE
            self.cond.notify_all()

    def _next_turn(self) -> Caller | None:
        runnable = {c.name: c for c in self.callers if c._state in (READY, PAUSED)}
        while self.turns:
            name = self.turns.pop(0)
            if name in runnable:
                self._last_turn = runnable[name].index
                return runnable[name]
        n = len(self.callers)
        for offset in range(1, n + 1):
            c = self.callers[(self._last_turn + offset) % n]
            if c._state in (READY, PAUSED):
                self._last_turn = c.index
                return c
        return None

    def schedule(self, deadline: float) -> None:
        """Lock step: give one caller the turn at a time until all are done."""
        with self.cond:
            while any(c._state != DONE for c in self.callers):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._timeout()
                caller = self._next_turn()
                if caller is None:  # only running or blocked callers left: wait for one to move
                    self.cond.wait(timeout=min(remaining, self.block_timeout))
                    continue
                caller._state = RUNNING
                caller._go.set()
                moved = self.cond.wait_for(lambda c=caller: c._state != RUNNING, timeout=self.block_timeout)
                if not moved:
                    caller._state = BLOCKED
                    self.timeline.append(Event(caller.name, "blocked", time.perf_counter() - self.t0,
                                               len(self.timeline)))

    def _timeout(self) -> RaceTimeout:
        where = {c.name: c._state for c in self.callers}
        last = {e.caller: e.label for e in self.timeline}
        return RaceTimeout(f"race did not finish; states {where}; last events {last}")


def caller_names(n: int) -> list[str]:
    """A, B, C... for small races (easy to read on a timeline), c01, c02... beyond 26."""
    if n <= 26:
        return [chr(ord("A") + i) for i in range(n)]
    return [f"c{i + 1:02d}" for i in range(n)]


def run(
    fn: Callable[[Caller], Any] | Sequence[Callable[[Caller], Any]],
    callers: int | None = None,
    schedule: str | Sequence[str] | None = None,
    block_timeout: float = DEFAULT_BLOCK_TIMEOUT_S,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> RaceResult:
    """Run callers concurrently and return their results, errors and timeline.

    fn: one function every caller runs, or a list with one function per caller.
    callers: how many callers when `fn` is one function (default 2).
    schedule: None releases everyone together (real concurrency); "round_robin" runs them in
        lock step, turn by turn; a list of caller names gives the turns explicitly (then round robin).
    """
    fns = list(fn) if isinstance(fn, Sequence) else [fn] * (callers or 2)
    if callers is not None and len(fns) != callers:
        raise ValueError(f"{len(fns)} functions for {callers} callers")
    if isinstance(schedule, str) and schedule != "round_robin":
        raise ValueError(f"schedule must be None, 'round_robin' or a list of caller names, not {schedule!r}")
    names = caller_names(len(fns))
    turns = [] if schedule is None or isinstance(schedule, str) else list(schedule)
    unknown = set(turns) - set(names)
    if unknown:
        raise ValueError(f"schedule names unknown callers {sorted(unknown)}; callers are {names}")
    lockstep = schedule is not None
    race = _Race(names, lockstep, turns, block_timeout)
    results: dict[str, Any] = {}
    errors: dict[str, BaseException] = {}

    def release() -> None:
        race.t0 = time.perf_counter()

    barrier = threading.Barrier(len(fns), action=release)

    def body(caller: Caller, f: Callable[[Caller], Any]) -> None:
        _current.caller = caller
        try:
            if lockstep:
                caller._go.wait()
            else:
                barrier.wait()
            race.record(caller, "start")
            results[caller.name] = f(caller)
            race.finish(caller, "end")
        except BaseException as exc:  # recorded, shown on the timeline, re-raisable by the lesson
            errors[caller.name] = exc
            race.finish(caller, f"error: {type(exc).__name__}")
        finally:
            _current.caller = None

    threads = [threading.Thread(target=body, args=(c, f), daemon=True, name=f"race-{c.name}")
               for c, f in zip(race.callers, fns, strict=True)]
    started = time.monotonic()
    for t in threads:
        t.start()
    deadline = started + timeout
    try:
        if lockstep:
            race.t0 = time.perf_counter()
            race.schedule(deadline)
        for t in threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                raise race._timeout()
    finally:
        for c in race.callers:  # never leave a paused thread behind
            c._go.set()
    return RaceResult(names, results, errors, sorted(race.timeline, key=lambda e: e.step),
                      time.monotonic() - started, lockstep)
