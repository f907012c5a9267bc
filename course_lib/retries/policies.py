"""Retrying safely: backoff policies with jitter, a retry budget, deadlines and Retry-After.

The policies follow Marc Brooker's "Exponential Backoff And Jitter" (AWS Architecture Blog, 2015).
For attempt n (the n-th failure, n >= 1) and exponential ceiling expo(n) = min(cap, base * 2**n):

    constant      base
    exponential   expo(n)
    full jitter   uniform(0, expo(n))
    equal jitter  expo(n) / 2 + uniform(0, expo(n) / 2)
    decorrelated  min(cap, uniform(base, 3 * previous)), starting from previous = base

Every jittered policy takes a seed, so a lesson's plot and a test's assertion are reproducible.

Retrying is only safe for requests that can run twice without harm: idempotent methods, or a
request that carries an Idempotency-Key (notebook 01). `retry()` refuses anything else.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import itertools
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
# 2**64 times any sensible base is past any sensible cap; beyond it the ceiling is the cap anyway.
MAX_DOUBLINGS = 64
# The longest a server's Retry-After may make us wait: botocore caps every backoff at 20 s
# (botocore.retries.standard, MAX_BACKOFF in 1.44), and a day-long hint is a broken server, not advice.
MAX_RETRY_AFTER_S = 20.0


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (RFC 9110 section 10.2.3), or None if it says nothing usable.

    Either delay-seconds (ASCII digits) or an HTTP-date; a negative number, a date in the past, or
    anything else is ignored rather than obeyed.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # obs-date forms without a zone are GMT by definition
        when = when.replace(tzinfo=datetime.UTC)
    seconds = when.timestamp() - (time.time() if now is None else now)
    return seconds if seconds > 0 else None


@dataclass(frozen=True)
class Constant:
    delay_s: float

    def delays(self) -> Iterator[float]:
        while True:
            yield self.delay_s


@dataclass(frozen=True)
class Exponential:
    base_s: float
    cap_s: float

    def expo(self, attempt: int) -> float:
        # Clamped before the power: base * 2**1024 overflows a float, and the cap is reached far earlier.
        return min(self.cap_s, self.base_s * 2 ** min(attempt, MAX_DOUBLINGS))

    def delays(self) -> Iterator[float]:
        return (self.expo(attempt) for attempt in itertools.count(1))


@dataclass(frozen=True)
class _JitteredExponential(Exponential):
    """Exponential ceilings with a seeded random draw under each; subclasses say how they draw."""

    seed: int | None = None

    def delays(self) -> Iterator[float]:
        rng = random.Random(self.seed)
        return (self.jitter(rng, self.expo(attempt)) for attempt in itertools.count(1))

    def jitter(self, rng: random.Random, ceiling: float) -> float:
        raise NotImplementedError


@dataclass(frozen=True)
class FullJitter(_JitteredExponential):
    def jitter(self, rng: random.Random, ceiling: float) -> float:
        return rng.uniform(0, ceiling)


@dataclass(frozen=True)
class EqualJitter(_JitteredExponential):
    def jitter(self, rng: random.Random, ceiling: float) -> float:
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


@dataclass(frozen=True)
class DecorrelatedJitter:
    base_s: float
    cap_s: float
    seed: int | None = None

    def delays(self) -> Iterator[float]:
        rng, previous = random.Random(self.seed), self.base_s
        while True:
            previous = min(self.cap_s, rng.uniform(self.base_s, previous * 3))
            yield previous


Policy = Constant | Exponential | FullJitter | EqualJitter | DecorrelatedJitter


class RetryBudget:
    """A token bucket shared by all calls to one dependency: botocore's standard-mode retry quota.

    The rules and numbers are botocore 1.44's (`botocore.retries.quota.RetryQuota` and
    `standard.RetryQuotaChecker`): 500 tokens; a retry spends 14, or 5 after a throttling error; a call
    that succeeds at the first try gives 1 back; a call that succeeds after retrying gives back what its
    last retry spent. So calls that fail once and then succeed cost nothing in the long run, and only a
    dependency that keeps failing drains the budget: then callers fail fast instead of multiplying the load.
    """

    def __init__(self, capacity: int = 500, retry_cost: int = 14, throttling_cost: int = 5,
                 no_retry_refund: int = 1) -> None:
        self.capacity, self.retry_cost, self.throttling_cost = capacity, retry_cost, throttling_cost
        self.no_retry_refund = no_retry_refund
        self.tokens = capacity
        self._lock = threading.Lock()

    def try_spend(self, throttled: bool = False) -> int | None:
        """Spend the cost of one retry; the amount spent, or None when the budget cannot pay it."""
        cost = self.throttling_cost if throttled else self.retry_cost
        with self._lock:
            if self.tokens < cost:
                return None
            self.tokens -= cost
            return cost

    def on_success(self, last_spent: int | None) -> None:
        """A call succeeded: refund its last retry's cost, or `no_retry_refund` if it never retried."""
        amount = self.no_retry_refund if last_spent is None else last_spent
        with self._lock:
            self.tokens = min(self.capacity, self.tokens + amount)


class Retryable(Exception):
    """A failure worth retrying (a 503, a connection reset); `retry_after_s` from a Retry-After header."""

    def __init__(self, message: str = "", retry_after_s: float | None = None, timeout: bool = False,
                 throttled: bool = False) -> None:
        super().__init__(message)
        self.retry_after_s, self.timeout, self.throttled = retry_after_s, timeout, throttled


class RetriesExhausted(Exception):
    """No more retries: attempts, deadline or budget ran out. `last` is the final failure."""

    def __init__(self, reason: str, attempts: int, last: BaseException) -> None:
        super().__init__(f"gave up after {attempts} attempt(s): {reason}; last error: {last}")
        self.reason, self.attempts, self.last = reason, attempts, last


class UnsafeToRetry(ValueError):
    """The request may not run twice: a non-idempotent method without an Idempotency-Key."""


def safe_to_retry(method: str, headers: Mapping[str, str] | None = None) -> bool:
    """Idempotent methods are; POST and PATCH only with an Idempotency-Key header."""
    if method.upper() in IDEMPOTENT_METHODS:
        return True
    return any(k.lower() == "idempotency-key" and v for k, v in (headers or {}).items())


@dataclass
class RetryPlan:
    """How to retry one call. `attempts` counts the first try."""

    policy: Policy
    attempts: int = 5
    deadline_s: float | None = None
    budget: RetryBudget | None = None
    max_retry_after_s: float = MAX_RETRY_AFTER_S
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)

    def check_safe(self) -> None:
        if not safe_to_retry(self.method, self.headers):
            raise UnsafeToRetry(f"{self.method} without an Idempotency-Key must not be retried: a retry could "
                                "run it twice. Send an Idempotency-Key header, or call it without retry().")

    def start(self, clock: Callable[[], float]) -> _Attempts:
        self.check_safe()
        return _Attempts(self, self.policy.delays(), clock, clock())


@dataclass
class _Attempts:
    """One call's progress through a plan: how many attempts so far, and the next pause."""

    plan: RetryPlan
    delays: Iterator[float]
    clock: Callable[[], float]
    started: float
    count: int = 0
    last_spent: int | None = None  # what the last retry took from the budget

    def failed(self, error: Retryable) -> float:
        """The pause before the next attempt, or raise RetriesExhausted."""
        self.count += 1
        plan = self.plan
        if self.count >= plan.attempts:
            raise RetriesExhausted("max attempts reached", self.count, error)
        delay = next(self.delays)
        hint = error.retry_after_s
        if hint is not None and hint > 0:  # the server said when; sooner would only be refused again
            delay = max(delay, min(hint, plan.max_retry_after_s))
        if plan.deadline_s is not None and self.clock() + delay - self.started > plan.deadline_s:
            raise RetriesExhausted("the next attempt would pass the deadline", self.count, error)
        if plan.budget is not None:
            self.last_spent = plan.budget.try_spend(throttled=error.throttled)
            if self.last_spent is None:
                raise RetriesExhausted("retry budget exhausted", self.count, error)
        return delay

    def succeeded(self) -> None:
        if self.plan.budget is not None:
            self.plan.budget.on_success(self.last_spent)


def retry(fn: Callable[[], T], plan: RetryPlan, sleep: Callable[[float], None] = time.sleep,
          clock: Callable[[], float] = time.monotonic) -> T:
    """Call fn, retrying `Retryable` failures per `plan`; other exceptions pass through at once."""
    attempts = plan.start(clock)
    while True:
        try:
            result = fn()
        except Retryable as error:
            sleep(attempts.failed(error))
        else:
            attempts.succeeded()
            return result


async def retry_async(fn: Callable[[], Awaitable[T]], plan: RetryPlan,
                      clock: Callable[[], float] = time.monotonic) -> T:
    """`retry` for coroutines: the same plan, awaiting asyncio.sleep between attempts."""
    attempts = plan.start(clock)
    while True:
        try:
            result = await fn()
        except Retryable as error:
            await asyncio.sleep(attempts.failed(error))
        else:
            attempts.succeeded()
            return result
