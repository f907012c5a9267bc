"""Self-checks for the learners' exercises.

A learner edits a function in a notebook cell and calls `check("exercise_name", their_fn)`. The
check runs it through the same harness the lesson used and prints what passed and what failed, never
the answer. Help comes when asked, one step at a time: `hint(name)` first gives the concept, called
again an outline of the solution, and a third time (or `solution(name)`) the reference code. A stub
that still raises NotImplementedError reports "not attempted" and does not stop "Run all", so a
notebook with untouched exercises still runs top to bottom under nbval.

Each lesson's checks live in a module here, registered with `@exercise`; the reference solutions
live in `course_lib.solutions` under the same names (CI checks that they pass).
"""

from __future__ import annotations

import importlib
import inspect
from collections import Counter
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

    @property
    def ok(self) -> bool:
        return self.attempted and not self.failed

    def __str__(self) -> str:
        if not self.attempted:
            return f"{self.exercise}: not attempted yet (replace the NotImplementedError and run the check again)."
        lines = [f"{self.exercise}: {'all checks passed' if self.ok else 'not yet'}"]
        lines += [f"  passed: {p}" for p in self.passed]
        lines += [f"  FAILED: {f}" for f in self.failed]
        if self.failed:
            lines.append(f"  stuck? hint({self.exercise!r}) gives the idea; call it again for an outline, a third "
                         "time for the reference solution")
        return "\n".join(lines)


@dataclass(frozen=True)
class _Exercise:
    checker: Checker
    concept: str  # the idea to reach for, without the steps
    outline: str  # the steps, without the code


_REGISTRY: dict[str, _Exercise] = {}
_HINTS_GIVEN: Counter[str] = Counter()


def exercise(name: str, concept: str, outline: str) -> Callable[[Checker], Checker]:
    """Register a checker: a generator yielding (what was checked, did it hold) for a learner's function,
    with its two hints (the reference solution is the third step)."""

    def register(checker: Checker) -> Checker:
        _REGISTRY[name] = _Exercise(checker, concept, outline)
        return checker

    return register


def _known(name: str) -> _Exercise:
    if name not in _REGISTRY:
        raise KeyError(f"no exercise called {name!r}; known: {', '.join(names())}")
    return _REGISTRY[name]


def hint(name: str) -> str:
    """The next step of help for exercise `name`: the concept, then an outline, then the reference solution."""
    ex = _known(name)
    _HINTS_GIVEN[name] += 1
    step = _HINTS_GIVEN[name]
    if step >= 3:
        return solution(name)
    text = f"{name}, hint {step} of 2 ({'the idea' if step == 1 else 'an outline'}): " + (
        ex.concept if step == 1 else ex.outline) + f"\n(again: hint({name!r}) shows " + (
        "an outline)" if step == 1 else "the reference solution)")
    print(text)
    return text


def solution(name: str) -> str:
    """The reference solution's source, the one CI checks against this exercise."""
    from course_lib.lab.solutions import reference

    _known(name)
    source = inspect.getsource(reference(name))
    print(f"{name}, the reference solution:\n\n{source}")
    return source


def names() -> list[str]:
    return sorted(_REGISTRY)


def check(name: str, fn: Callable[..., Any], quiet: bool = False) -> Report:
    """Run exercise `name`'s checks on `fn`, print the report, and return it."""
    ex = _known(name)
    report = Report(name)
    try:
        for what, held in ex.checker(fn):
            (report.passed if held else report.failed).append(what)
    except NotImplementedError:
        report = Report(name, attempted=False)
    except Exception as exc:  # the learner's code failed: report it, do not stop "Run all"
        report.failed.append(f"your function raised {type(exc).__name__}: {exc}")
    if not quiet:
        print(report)
    return report



# Importing each lesson's module registers its checks with @exercise.
LESSONS = ("start_here", "idempotency", "orders", "retries", "events", "s3", "sqlperf", "tokens", "frontend", "drill")
for _lesson in LESSONS:
    importlib.import_module(f"{__name__}.{_lesson}")
