"""Named failpoints: where reference code lets a test or a lesson watch, pause or crash it.

Reference code marks its interesting moments by name and keeps the signatures production code
would have (no `crash=` parameters):

    failpoints.point("after_external_call")          # a named moment a lesson may pause or crash at
    failpoints.note("provider called")                # a timeline entry only: never pauses, never crashes

Both are no-ops in production: nothing is armed and nobody watches, so each costs one dict lookup
and one thread-local read. A test or a lesson arms a point from outside:

    with failpoints.crash_at("after_external_call"):  # this call dies there, as a killed process would
        create_charge(store, request)
    with failpoints.crash_at("part_stored", on_hit=4):  # the 4th time a part is stored
        uploader.upload(data)

An arming is scoped to the current context by default (this thread, and the threads and tasks it
hands its context to, e.g. a request's thread-pool hop), so a crash armed for one request of a
benchmark does not crash its neighbours. `everywhere=True` arms the point in every thread.

The race harness (`course_lib.lab.race`) is the one *watcher*: it installs itself on each of its
caller threads with `watch()`, records every point and note on its timeline, and in lock step pauses
a caller at each point. Reference code never imports the harness; the harness plugs in here.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol


class SimulatedCrash(RuntimeError):
    """A worker died at a named point (the process was killed, the pod evicted), mid-request or mid-batch."""


class Watcher(Protocol):
    """What the race harness implements to see points and notes on its caller threads."""

    def at_point(self, name: str, label: str) -> None: ...

    def at_note(self, label: str) -> None: ...


@dataclass
class _Arming:
    """A crash armed at `name`: it fires on hit number `on_hit` and on every hit after it (dead stays dead)."""

    name: str
    on_hit: int
    hits: int = 0
    fired: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def hit(self) -> bool:
        with self.lock:
            self.hits += 1
            if self.hits >= self.on_hit:
                self.fired += 1
                return True
            return False


_everywhere: dict[str, list[_Arming]] = {}
_everywhere_lock = threading.Lock()
_in_context: contextvars.ContextVar[tuple[_Arming, ...]] = contextvars.ContextVar("failpoints_armed", default=())
_watching = threading.local()


def point(name: str, detail: str | None = None) -> None:
    """A named failpoint. `detail` only decorates the timeline label ("read: 10"); arming matches `name`."""
    label = name if detail is None else f"{name}: {detail}"
    watcher: Watcher | None = getattr(_watching, "watcher", None)
    if watcher is not None:
        watcher.at_point(name, label)
    armed = _in_context.get()
    if _everywhere:
        with _everywhere_lock:
            armed = armed + tuple(_everywhere.get(name, ()))
    for arming in armed:
        if arming.name == name and arming.hit():
            raise SimulatedCrash(f"crashed at failpoint {name!r} (hit {arming.hits})")


def note(label: str) -> None:
    """Record `label` on a watching race's timeline; nothing else, ever."""
    watcher: Watcher | None = getattr(_watching, "watcher", None)
    if watcher is not None:
        watcher.at_note(label)


@contextmanager
def crash_at(name: str, *, on_hit: int = 1, everywhere: bool = False) -> Iterator[_Arming]:
    """Arm `name` to raise SimulatedCrash on its `on_hit`-th hit and every later one, until the block ends.

    Yields the arming, whose `hits` and `fired` counts a test can assert on.
    """
    if on_hit < 1:
        raise ValueError(f"on_hit counts hits from 1, got {on_hit}")
    arming = _Arming(name, on_hit)
    if everywhere:
        with _everywhere_lock:
            _everywhere.setdefault(name, []).append(arming)
        try:
            yield arming
        finally:
            with _everywhere_lock:
                _everywhere[name].remove(arming)
                if not _everywhere[name]:
                    del _everywhere[name]
        return
    token = _in_context.set((*_in_context.get(), arming))
    try:
        yield arming
    finally:
        _in_context.reset(token)


@contextmanager
def watch(watcher: Watcher) -> Iterator[None]:
    """Let `watcher` see every point and note this thread reaches until the block ends (the race harness)."""
    previous = getattr(_watching, "watcher", None)
    _watching.watcher = watcher
    try:
        yield
    finally:
        _watching.watcher = previous
