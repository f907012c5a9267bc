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
import itertools
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


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
        return min(self.cap_s, self.base_s * 2**attempt)

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
    """A token bucket shared by all calls to one dependency, like botocore's standard-mode quota.

    Each retry spends tokens; each success refunds one. When a dependency is down, the budget runs
    out after a bounded number of retries and callers fail fast instead of multiplying the load.
    Defaults are botocore's: 500 tokens, 5 per retry, 10 per retry after a timeout, 1 back per success.
    """

    def __init__(self, capacity: int = 500, retry_cost: int = 5, timeout_cost: int = 10, refund: int = 1) -> None:
        self.capacity, self.retry_cost, self.timeout_cost, self.refund = capacity, retry_cost, timeout_cost, refund
        self.tokens = capacity
        self._lock = threading.Lock()

    def try_spend(self, timeout: bool = False) -> bool:
        cost = self.timeout_cost if timeout else self.retry_cost
        with self._lock:
            if self.tokens < cost:
                return False
            self.tokens -= cost
            return True

    def on_success(self) -> None:
        with self._lock:
            self.tokens = min(self.capacity, self.tokens + self.refund)


class Retryable(Exception):
    """A failure worth retrying (a 503, a connection reset); `retry_after_s` from a Retry-After header."""

    def __init__(self, message: str = "", retry_after_s: float | None = None, timeout: bool = False) -> None:
        super().__init__(message)
        self.retry_after_s, self.timeout = retry_after_s, timeout


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

    def failed(self, error: Retryable) -> float:
        """The pause before the next attempt, or raise RetriesExhausted."""
        self.count += 1
        plan = self.plan
        if self.count >= plan.attempts:
            raise RetriesExhausted("max attempts reached", self.count, error)
        delay = next(self.delays)
        if error.retry_after_s is not None:  # the server said when; sooner would only be refused again
            delay = max(delay, error.retry_after_s)
        if plan.deadline_s is not None and self.clock() + delay - self.started > plan.deadline_s:
            raise RetriesExhausted("the next attempt would pass the deadline", self.count, error)
        if plan.budget is not None and not plan.budget.try_spend(timeout=error.timeout):
            raise RetriesExhausted("retry budget exhausted", self.count, error)
        return delay

    def succeeded(self) -> None:
        if self.plan.budget is not None:
            self.plan.budget.on_success()


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
