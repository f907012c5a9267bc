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
        attempt = 1
        while True:
            yield self.expo(attempt)
            attempt += 1


@dataclass(frozen=True)
class FullJitter(Exponential):
    seed: int | None = None

    def delays(self) -> Iterator[float]:
        rng, attempt = random.Random(self.seed), 1
        while True:
            yield rng.uniform(0, self.expo(attempt))
            attempt += 1


@dataclass(frozen=True)
class EqualJitter(Exponential):
    seed: int | None = None

    def delays(self) -> Iterator[float]:
        rng, attempt = random.Random(self.seed), 1
        while True:
            half = self.expo(attempt) / 2
            yield half + rng.uniform(0, half)
            attempt += 1


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

    def next_delay(self, delays: Iterator[float], attempt: int, error: Retryable, started: float,
                   now: float) -> float:
        """The pause before the next attempt, or raise RetriesExhausted."""
        if attempt >= self.attempts:
            raise RetriesExhausted("max attempts reached", attempt, error)
        delay = next(delays)
        if error.retry_after_s is not None:  # the server said when; sooner would only be refused again
            delay = max(delay, error.retry_after_s)
        if self.deadline_s is not None and now + delay - started > self.deadline_s:
            raise RetriesExhausted("the next attempt would pass the deadline", attempt, error)
        if self.budget is not None and not self.budget.try_spend(timeout=error.timeout):
            raise RetriesExhausted("retry budget exhausted", attempt, error)
        return delay


def retry(fn: Callable[[], T], plan: RetryPlan, sleep: Callable[[float], None] = time.sleep,
          clock: Callable[[], float] = time.monotonic) -> T:
    """Call fn, retrying `Retryable` failures per `plan`; other exceptions pass through at once."""
    plan.check_safe()
    delays, started, attempt = plan.policy.delays(), clock(), 0
    while True:
        attempt += 1
        try:
            result = fn()
        except Retryable as error:
            sleep(plan.next_delay(delays, attempt, error, started, clock()))
            continue
        if plan.budget is not None:
            plan.budget.on_success()
        return result


async def retry_async(fn: Callable[[], Awaitable[T]], plan: RetryPlan,
                      clock: Callable[[], float] = time.monotonic) -> T:
    """`retry` for coroutines: the same plan, awaiting asyncio.sleep between attempts."""
    plan.check_safe()
    delays, started, attempt = plan.policy.delays(), clock(), 0
    while True:
        attempt += 1
        try:
            result = await fn()
        except Retryable as error:
            await asyncio.sleep(plan.next_delay(delays, attempt, error, started, clock()))
            continue
        if plan.budget is not None:
            plan.budget.on_success()
        return result
