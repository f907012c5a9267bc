"""The concurrency harness: N callers released together, named pause points, a recorded timeline.

Races are the heart of this course, and a race that shows up one run in ten teaches nothing.
This harness makes them repeatable:

* `run(fn, callers=64)` releases every caller at once from a barrier: real concurrency, for
  stress runs that measure how often a flaw bites.
* `run(fn, callers=2, schedule="round_robin")` runs the callers in lock step: exactly one caller
  runs at a time, from one point to the next, then hands over. The interleaving, and so the
  timeline, is the same on every run.
* `schedule=[("A", "after_check"), ("B", "end")]` names the steps: run A until it reaches the point
  named "after_check", then B until it ends, then round robin for whoever is left. Steps name
  points, not turns, so adding a point to the code under test does not silently change a scenario;
  a step whose caller finishes without reaching its point is an error (`ScheduleError`).

Code under test marks its moments with `course_lib.failpoints.point("after_check")` (reference code)
or `race.point(...)` (the same function, for code written in a notebook). Outside a race a point does
nothing. The harness watches its caller threads through `failpoints.watch`, so reference code never
imports it.

A caller that blocks (a row lock, a Redis lock) never reaches its next point. In lock step the
scheduler notices after `block_timeout`, records "blocked", and moves on, so a lesson can show
"B waits for A's lock" instead of hanging. Each caller thread starts with a copy of the context
that called `run()`, so a failpoint armed around `run()` applies to its callers.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from course_lib import failpoints

# Longer than any single step of a lesson takes on a loaded 2-core laptop when it is not blocked
# (a few ms of SQL), short enough that a demonstration with a blocked caller still feels instant.
DEFAULT_BLOCK_TIMEOUT_S = 0.5
# A whole race that has not finished in this time is stuck; failing beats hanging a notebook.
DEFAULT_TIMEOUT_S = 60.0
# The target of a step that runs its caller to the end.
END = "end"

point = failpoints.point  # for code written in a notebook: the same named points reference code uses
note = failpoints.note

Step = tuple[str, str]


class State(StrEnum):
    READY = "ready"
    RUNNING = "running"
    PAUSED = "paused"
    BLOCKED = "blocked"
    DONE = "done"


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
    _state: State = field(default=State.READY, repr=False)
    _at: str | None = field(default=None, repr=False)  # the name of the point it is paused at

    def at_point(self, name: str, label: str) -> None:
        self._run.reach_point(self, name, label)

    def at_note(self, label: str) -> None:
        self._run.record(self, label)


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

    def relabelled(self, label: Callable[[Event], str]) -> RaceResult:
        """The same race with each event's label replaced by `label(event)` (e.g. to mark lost writes)."""
        return dataclasses.replace(self, timeline=[dataclasses.replace(e, label=label(e)) for e in self.timeline])

    def raise_first_error(self) -> None:
        for name in self.callers:
            if name in self.errors:
                raise self.errors[name]


class RaceTimeout(RuntimeError):
    """The callers did not all finish in time; the message lists where each one was."""


class ScheduleError(RuntimeError):
    """A schedule step could not be followed: its caller ended, or stayed blocked, before its point."""


_current = threading.local()


def current() -> Caller | None:
    """The caller running on this thread, or None outside a race."""
    return getattr(_current, "caller", None)


class _Race:
    def __init__(self, names: Sequence[str], lockstep: bool, steps: Sequence[Step], block_timeout: float) -> None:
        self.cond = threading.Condition()
        self.callers = [Caller(name, i, self) for i, name in enumerate(names)]
        self.by_name = {c.name: c for c in self.callers}
        self.lockstep = lockstep
        self.steps = list(steps)
        self.block_timeout = block_timeout
        self.timeline: list[Event] = []
        self.t0 = time.perf_counter()
        self._last_turn = -1

    def record(self, caller: Caller, label: str) -> None:
        with self.cond:
            self._append(caller, label)

    def _append(self, caller: Caller, label: str) -> None:
        self.timeline.append(Event(caller.name, label, time.perf_counter() - self.t0, len(self.timeline)))

    def reach_point(self, caller: Caller, name: str, label: str) -> None:
        self.record(caller, label)
        if not self.lockstep:
            return
        with self.cond:
            caller._go.clear()
            caller._state, caller._at = State.PAUSED, name
            self.cond.notify_all()
        caller._go.wait()

    def finish(self, caller: Caller, label: str) -> None:
        self.record(caller, label)
        with self.cond:
            caller._state = State.DONE
            self.cond.notify_all()

    def _round_robin(self) -> Caller | None:
        n = len(self.callers)
        for offset in range(1, n + 1):
            c = self.callers[(self._last_turn + offset) % n]
            if c._state in (State.READY, State.PAUSED):
                return c
        return None

    def _next_step(self) -> tuple[Caller, str | None] | None:
        """The next (caller, target point) to run: the schedule's steps first, then round robin."""
        while self.steps:
            name, target = self.steps[0]
            caller = self.by_name[name]
            if caller._state == State.DONE:
                self.steps.pop(0)
                if target != END:
                    raise ScheduleError(f"step ({name!r}, {target!r}): {name} had already ended")
                continue
            if caller._state in (State.READY, State.PAUSED):
                self.steps.pop(0)
                return caller, target
            if not self.cond.wait_for(functools.partial(_unblocked, caller), timeout=self.block_timeout):
                raise ScheduleError(f"step ({name!r}, {target!r}): {name} is blocked; let the caller it waits "
                                    "for run first")
        next_caller = self._round_robin()
        return (next_caller, None) if next_caller else None

    def _run_step(self, caller: Caller, target: str | None) -> None:
        """Give `caller` turns until it pauses at `target` (None: at any point), ends, or blocks."""
        self._last_turn = caller.index
        while True:
            caller._state = State.RUNNING
            caller._go.set()
            moved = self.cond.wait_for(lambda: caller._state != State.RUNNING, timeout=self.block_timeout)
            if not moved:
                caller._state = State.BLOCKED
                self._append(caller, "blocked")
                return
            if caller._state == State.DONE:
                if target not in (None, END):
                    raise ScheduleError(f"step ({caller.name!r}, {target!r}): {caller.name} ended without "
                                        f"reaching a point named {target!r}")
                return
            if target is None or caller._at == target:
                return

    def schedule(self, deadline: float) -> None:
        """Lock step: run one caller at a time, step by step, until all are done."""
        with self.cond:
            while any(c._state != State.DONE for c in self.callers):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._timeout()
                step = self._next_step()
                if step is None:  # only running or blocked callers left: wait for one to move
                    self.cond.wait(timeout=min(remaining, self.block_timeout))
                    continue
                self._run_step(*step)

    def _timeout(self) -> RaceTimeout:
        where = {c.name: c._state.value for c in self.callers}
        last = {e.caller: e.label for e in self.timeline}
        return RaceTimeout(f"race did not finish; states {where}; last events {last}")


def _unblocked(caller: Caller) -> bool:
    return caller._state != State.BLOCKED


def caller_names(n: int) -> list[str]:
    """A, B, C... for small races (easy to read on a timeline), c01, c02... beyond 26."""
    if n <= 26:
        return [chr(ord("A") + i) for i in range(n)]
    return [f"c{i + 1:02d}" for i in range(n)]


def _steps(schedule: str | Sequence[Step] | None, names: list[str]) -> list[Step]:
    if schedule is None or schedule == "round_robin":
        return []
    if isinstance(schedule, str):
        raise ValueError(f"schedule must be None, 'round_robin' or a list of (caller, point) steps, not {schedule!r}")
    steps = []
    for step in schedule:
        if not (isinstance(step, tuple) and len(step) == 2 and all(isinstance(s, str) for s in step)):
            raise ValueError(f"a schedule step is (caller, point name), e.g. ('A', 'after_check'); got {step!r}")
        steps.append(step)
    unknown = {name for name, _ in steps} - set(names)
    if unknown:
        raise ValueError(f"schedule names unknown callers {sorted(unknown)}; callers are {names}")
    return steps


def run(
    fn: Callable[[Caller], Any] | Sequence[Callable[[Caller], Any]],
    callers: int | None = None,
    schedule: str | Sequence[Step] | None = None,
    block_timeout: float = DEFAULT_BLOCK_TIMEOUT_S,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> RaceResult:
    """Run callers concurrently and return their results, errors and timeline.

    fn: one function every caller runs, or a list with one function per caller.
    callers: how many callers when `fn` is one function (default 2).
    schedule: None releases everyone together (real concurrency); "round_robin" runs them in
        lock step, one point per turn; a list of (caller, point name) steps runs each caller until
        it reaches that point ("end": until it finishes), then round robin.
    """
    fns = _functions(fn, callers)
    names = caller_names(len(fns))
    race = _Race(names, schedule is not None, _steps(schedule, names), block_timeout)
    results: dict[str, Any] = {}
    errors: dict[str, BaseException] = {}

    def release() -> None:
        race.t0 = time.perf_counter()

    barrier = threading.Barrier(len(fns), action=release)

    def body(caller: Caller, f: Callable[[Caller], Any]) -> None:
        _current.caller = caller
        try:
            with failpoints.watch(caller):
                if race.lockstep:
                    caller._go.wait()
                else:
                    barrier.wait()
                race.record(caller, "start")
                results[caller.name] = f(caller)
            race.finish(caller, END)
        except BaseException as exc:  # recorded, shown on the timeline, re-raisable by the lesson
            errors[caller.name] = exc
            race.finish(caller, f"error: {type(exc).__name__}")
        finally:
            _current.caller = None

    threads = [threading.Thread(target=contextvars.copy_context().run, args=(body, c, f), daemon=True,
                                name=f"race-{c.name}")
               for c, f in zip(race.callers, fns, strict=True)]
    started = time.monotonic()
    _drive(race, threads, deadline=started + timeout)
    return RaceResult(names, results, errors, sorted(race.timeline, key=lambda e: e.step),
                      time.monotonic() - started, race.lockstep)


def _functions(fn: Callable[[Caller], Any] | Sequence[Callable[[Caller], Any]], callers: int | None
               ) -> list[Callable[[Caller], Any]]:
    fns = list(fn) if isinstance(fn, Sequence) else [fn] * (callers or 2)
    if callers is not None and len(fns) != callers:
        raise ValueError(f"{len(fns)} functions for {callers} callers")
    return fns


def _drive(race: _Race, threads: list[threading.Thread], deadline: float) -> None:
    """Start the callers, schedule them in lock step if asked, and wait for all to finish."""
    for t in threads:
        t.start()
    try:
        if race.lockstep:
            race.t0 = time.perf_counter()
            race.schedule(deadline)
        for t in threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                raise race._timeout()
    finally:
        for c in race.callers:  # never leave a paused thread behind
            c._go.set()
