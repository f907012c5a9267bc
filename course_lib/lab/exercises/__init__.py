"""Self-checks for the learners' exercises.

A learner edits a function in a notebook cell and calls `check("exercise_name", their_fn)`. The
check runs it through the same harness the lesson used and prints what passed, what failed and a
hint. A stub that still raises NotImplementedError reports "not attempted" and does not stop
"Run all", so a notebook with untouched exercises still runs top to bottom under nbval.

Each lesson's checks live in a module here, registered with `@exercise`; the reference solutions
live in `course_lib.solutions` under the same names (CI checks that they pass).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

Checker = Callable[[Callable[..., Any]], Iterable[tuple[str, bool]]]


@dataclass
class Report:
    exercise: str
    attempted: bool = True
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    hint: str = ""

    @property
    def ok(self) -> bool:
        return self.attempted and not self.failed

    def __str__(self) -> str:
        if not self.attempted:
            return f"{self.exercise}: not attempted yet (replace the NotImplementedError and run the check again)."
        lines = [f"{self.exercise}: {'all checks passed' if self.ok else 'not yet'}"]
        lines += [f"  passed: {p}" for p in self.passed]
        lines += [f"  FAILED: {f}" for f in self.failed]
        if self.failed and self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


@dataclass(frozen=True)
class _Exercise:
    checker: Checker
    hint: str


_REGISTRY: dict[str, _Exercise] = {}


def exercise(name: str, hint: str) -> Callable[[Checker], Checker]:
    """Register a checker: a generator yielding (what was checked, did it hold) for a learner's function."""

    def register(checker: Checker) -> Checker:
        _REGISTRY[name] = _Exercise(checker, hint)
        return checker

    return register


def names() -> list[str]:
    return sorted(_REGISTRY)


def check(name: str, fn: Callable[..., Any], quiet: bool = False) -> Report:
    """Run exercise `name`'s checks on `fn`, print the report, and return it."""
    if name not in _REGISTRY:
        raise KeyError(f"no exercise called {name!r}; known: {', '.join(names())}")
    ex = _REGISTRY[name]
    report = Report(name, hint=ex.hint)
    try:
        for what, held in ex.checker(fn):
            (report.passed if held else report.failed).append(what)
    except NotImplementedError:
        report = Report(name, attempted=False, hint=ex.hint)
    except Exception as exc:  # the learner's code failed: report it, do not stop "Run all"
        report.failed.append(f"your function raised {type(exc).__name__}: {exc}")
    if not quiet:
        print(report)
    return report



# Importing each lesson's module registers its checks with @exercise.
LESSONS = ("start_here", "idempotency", "orders", "retries", "events", "s3", "sqlperf", "tokens", "frontend", "drill")
for _lesson in LESSONS:
    importlib.import_module(f"{__name__}.{_lesson}")
