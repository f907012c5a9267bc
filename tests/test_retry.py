"""Retry policies and the retry helper: bounds, reproducibility, budget, deadline, safety."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_lib.retries.policies import (
    MAX_RETRY_AFTER_S,
    Constant,
    DecorrelatedJitter,
    EqualJitter,
    Exponential,
    FullJitter,
    RetriesExhausted,
    Retryable,
    RetryBudget,
    RetryPlan,
    UnsafeToRetry,
    parse_retry_after,
    retry,
    retry_async,
    safe_to_retry,
)

bases = st.floats(0.001, 1.0)
caps = st.floats(1.0, 100.0)
seeds = st.integers(0, 2**32)


def first(policy, n=30):
    return list(itertools.islice(policy.delays(), n))


@given(base=bases, cap=caps, seed=seeds)
def test_every_policy_stays_within_its_bounds(base, cap, seed):
    for n, d in enumerate(first(Exponential(base, cap)), start=1):
        assert d == min(cap, base * 2**n)
    for n, d in enumerate(first(FullJitter(base, cap, seed)), start=1):
        assert 0 <= d <= min(cap, base * 2**n)
    for n, d in enumerate(first(EqualJitter(base, cap, seed)), start=1):
        expo = min(cap, base * 2**n)
        assert expo / 2 <= d <= expo
    previous = base
    for d in first(DecorrelatedJitter(base, cap, seed)):
        assert min(cap, base) <= d <= min(cap, 3 * previous) + 1e-12
        previous = d


@given(seed=seeds)
def test_seeded_policies_reproduce_exactly(seed):
    for cls in (FullJitter, EqualJitter, DecorrelatedJitter):
        assert first(cls(0.01, 10, seed)) == first(cls(0.01, 10, seed))


class Flaky:
    """Fails `failures` times with Retryable, then returns "ok"."""

    def __init__(self, failures: int, **error) -> None:
        self.failures, self.calls, self.error = failures, 0, error

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise Retryable("503", **self.error)
        return "ok"


def test_retries_until_success_sleeping_the_policy_delays():
    slept: list[float] = []
    fn = Flaky(3)
    assert retry(fn, RetryPlan(Exponential(0.1, 10), attempts=5), sleep=slept.append) == "ok"
    assert fn.calls == 4 and slept == [0.2, 0.4, 0.8]


def test_max_attempts_gives_up_with_the_last_error():
    fn = Flaky(10)
    with pytest.raises(RetriesExhausted, match="max attempts") as err:
        retry(fn, RetryPlan(Constant(0), attempts=3), sleep=lambda s: None)
    assert fn.calls == 3 and isinstance(err.value.last, Retryable)


def test_an_exhausted_budget_stops_retries():
    budget = RetryBudget(capacity=10, retry_cost=5)
    plan = RetryPlan(Constant(0), attempts=100, budget=budget)
    fn = Flaky(100)
    with pytest.raises(RetriesExhausted, match="budget"):
        retry(fn, plan, sleep=lambda s: None)
    assert fn.calls == 3 and budget.tokens == 0  # two retries paid for, the third refused


def test_the_budget_defaults_are_botocores():
    """botocore 1.44.8, botocore/retries: RetryQuota.INITIAL_CAPACITY and RetryQuotaChecker's costs."""
    from botocore.retries.quota import RetryQuota
    from botocore.retries.standard import RetryQuotaChecker

    ours = RetryBudget()
    assert ours.capacity == RetryQuota.INITIAL_CAPACITY
    assert ours.retry_cost == RetryQuotaChecker._RETRY_COST
    assert ours.throttling_cost == RetryQuotaChecker._THROTTLING_RETRY_COST
    assert ours.no_retry_refund == RetryQuotaChecker._NO_RETRY_INCREMENT


def test_calls_that_fail_once_then_succeed_cost_the_budget_nothing():
    """botocore gives back what the last retry spent when a retried call succeeds (not just 1):
    300 calls that each fail once keep all 500 tokens, and none is given up."""
    budget, gave_up = RetryBudget(), 0
    for _ in range(300):
        try:
            retry(Flaky(1), RetryPlan(Constant(0), budget=budget), sleep=lambda s: None)
        except RetriesExhausted:
            gave_up += 1
    assert (gave_up, budget.tokens) == (0, 500)


def test_a_throttling_error_costs_less_and_a_first_try_success_refunds_one():
    budget = RetryBudget(capacity=20)
    budget.tokens = 10
    retry(lambda: "ok", RetryPlan(Constant(0), budget=budget), sleep=lambda s: None)
    assert budget.tokens == 11
    assert budget.try_spend(throttled=True) == 5 and budget.tokens == 6


def test_retry_after_is_honoured():
    slept: list[float] = []
    retry(Flaky(1, retry_after_s=2.5), RetryPlan(Constant(0.1)), sleep=slept.append)
    assert slept == [2.5]


def test_a_huge_retry_after_is_capped_and_a_negative_one_ignored():
    slept: list[float] = []
    retry(Flaky(1, retry_after_s=86_400), RetryPlan(Constant(0.1)), sleep=slept.append)
    retry(Flaky(1, retry_after_s=-5), RetryPlan(Constant(0.1)), sleep=slept.append)
    assert slept == [MAX_RETRY_AFTER_S, 0.1]


@pytest.mark.parametrize(("header", "seconds"), [
    ("120", 120.0),  # delay-seconds (RFC 9110 section 10.2.3)
    ("Wed, 02 Dec 2026 10:00:30 GMT", 30.0),  # an HTTP-date (IMF-fixdate)
    ("Wednesday, 02-Dec-26 10:00:30 GMT", 30.0),  # the obsolete RFC 850 form
    ("Wed, 02 Dec 2026 09:59:00 GMT", None),  # in the past: nothing to wait for
    ("-5", None), ("soon", None), ("\u0661\u0662", None), ("", None), (None, None),
])
def test_retry_after_headers_are_parsed_per_rfc_9110(header, seconds):
    now = datetime(2026, 12, 2, 10, 0, 0, tzinfo=UTC).timestamp()
    assert parse_retry_after(header, now=now) == seconds


def test_exponential_backoff_never_overflows():
    policy = Exponential(0.1, 20.0)
    assert policy.expo(1_024) == policy.expo(10**9) == 20.0
    assert all(d <= 20.0 for d in itertools.islice(FullJitter(0.1, 20.0, seed=1).delays(), 2_000))


def test_deadline_stops_before_an_attempt_that_would_pass_it():
    now = [0.0]
    plan = RetryPlan(Constant(1.0), attempts=100, deadline_s=3.5)
    fn = Flaky(100)
    with pytest.raises(RetriesExhausted, match="deadline"):
        retry(fn, plan, sleep=lambda s: now.__setitem__(0, now[0] + s), clock=lambda: now[0])
    assert fn.calls == 4  # attempts at t = 0, 1, 2, 3; the next would start at 4 > 3.5


def test_other_errors_are_not_retried():
    calls = []

    def broken():
        calls.append(1)
        raise ValueError("a bug, not a blip")

    with pytest.raises(ValueError, match="a bug"):
        retry(broken, RetryPlan(Constant(0)), sleep=lambda s: None)
    assert len(calls) == 1


def test_a_non_idempotent_request_without_a_key_is_never_retried():
    fn = Flaky(1)
    with pytest.raises(UnsafeToRetry, match="Idempotency-Key"):
        retry(fn, RetryPlan(Constant(0), method="POST"), sleep=lambda s: None)
    assert fn.calls == 0
    assert retry(fn, RetryPlan(Constant(0), method="POST", headers={"Idempotency-Key": "k1"}),
                 sleep=lambda s: None) == "ok"


@pytest.mark.parametrize(("method", "headers", "safe"), [
    ("GET", {}, True), ("PUT", {}, True), ("DELETE", {}, True), ("POST", {}, False), ("PATCH", {}, False),
    ("POST", {"idempotency-key": "x"}, True), ("POST", {"Idempotency-Key": ""}, False),
])
def test_safe_to_retry(method, headers, safe):
    assert safe_to_retry(method, headers) is safe


def test_async_retry_follows_the_same_plan():
    fn = Flaky(2)

    async def call():
        return fn()

    assert asyncio.run(retry_async(call, RetryPlan(Constant(0), attempts=3))) == "ok" and fn.calls == 3
