"""Exercises for notebook 03: full jitter, decorrelated jitter, and a retry budget with botocore's rules."""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from course_lib.lab.exercises import exercise
from course_lib.retries.policies import DecorrelatedJitter

Delay = Callable[[int, float, float, random.Random], float]


@exercise("full_jitter_delay",
          concept="Brooker's full jitter keeps the exponential ceiling but spreads each client's wait evenly below "
                  "it, so clients that failed together retry apart",
          outline="the ceiling is min(cap, base * 2 ** attempt); return rng.uniform(0, ceiling)")
def check_full_jitter(delay: Delay) -> Iterator[tuple[str, bool]]:
    base, cap = 0.005, 2.0
    rng = random.Random(1)
    samples = {a: [delay(a, base, cap, rng) for _ in range(400)] for a in range(1, 13)}
    yield "every delay lies in [0, min(cap, base * 2**attempt)]", all(
        0 <= d <= min(cap, base * 2**a) for a, ds in samples.items() for d in ds)
    bound = min(cap, base * 2**6)
    spread = statistics.pstdev(samples[6]) / bound
    yield f"delays are spread over the window (std {spread:.2f} of the ceiling; uniform is 0.29)", spread > 0.2
    mean = statistics.fmean(samples[6]) / bound
    yield f"on average half the ceiling (got {mean:.2f})", 0.4 < mean < 0.6
    a, b = random.Random(7), random.Random(7)
    yield "the same seed gives the same delays", [delay(3, base, cap, a) for _ in range(5)] == [
        delay(3, base, cap, b) for _ in range(5)]


Decorrelated = Callable[[float, float, float, random.Random], float]
CHAINS, STEPS = 2000, 10


def _mean_waits(chains: Iterable[Iterator[float]]) -> list[float]:
    """The mean wait at each of the first STEPS retries over many clients (one delay iterator each)."""
    sums = [0.0] * STEPS
    for chain in chains:
        for step, wait in zip(range(STEPS), chain, strict=False):
            sums[step] += wait
    return [s / CHAINS for s in sums]


def _learner_chain(delay: Decorrelated, base: float, cap: float, rng: random.Random) -> Iterator[float]:
    previous = base  # the first wait is drawn after a "previous" of one base, as Brooker's starts
    while True:
        previous = delay(previous, base, cap, rng)
        yield previous


@exercise("decorrelated_jitter",
          concept="decorrelated jitter forgets the attempt number: each wait is drawn between the base and three "
                  "times the previous wait, then capped, so waits grow on average yet every client wanders apart",
          outline="return min(cap, rng.uniform(base, previous * 3)); the first call gets previous = base")
def check_decorrelated(delay: Decorrelated) -> Iterator[tuple[str, bool]]:
    base, cap = 0.005, 2.0
    rng = random.Random(3)
    samples = [(p, delay(p, base, cap, rng)) for p in (base, 0.02, 0.3, 1.5, cap) for _ in range(300)]
    yield "every delay lies in [base, min(cap, 3 x previous)]", all(
        base <= d <= min(cap, 3 * p) for p, d in samples)
    after = [d for p, d in samples if p == 0.3]
    spread = statistics.pstdev(after) / (0.9 - base)
    yield f"after a 0.3 s wait, delays spread over [base, 0.9 s] (std {spread:.2f} of the range; uniform 0.29)", (
        spread > 0.2)
    shared = random.Random(5)
    ours = _mean_waits(_learner_chain(delay, base, cap, shared) for _ in range(CHAINS))
    theirs = _mean_waits(DecorrelatedJitter(base, cap, seed=n).delays() for n in range(CHAINS))
    close = all(abs(a - b) <= 0.1 * b for a, b in zip(ours, theirs, strict=True))
    yield (f"{CHAINS} clients, {STEPS} retries each: mean waits within 10% of the lesson's DecorrelatedJitter "
           f"(retry 5: {ours[4]:.3f} s vs {theirs[4]:.3f} s)"), close
    a, b = random.Random(7), random.Random(7)
    yield "the same seed gives the same delays", [delay(0.1, base, cap, a) for _ in range(5)] == [
        delay(0.1, base, cap, b) for _ in range(5)]


@exercise("retry_budget",
          concept="a shared budget (botocore's retry quota) lets retries through while most calls succeed and "
                  "stops them when a dependency keeps failing: retries spend tokens, successes give them back",
          outline="start at 500; try_spend(throttled) takes 14 (5 when throttled) and returns it, or None when "
                  "fewer are left; on_success(last_spent) gives back last_spent if the call retried, else 1; never "
                  "above 500")
def check_retry_budget(make: Callable[[], Any]) -> Iterator[tuple[str, bool]]:
    budget = make()
    yield f"a new budget holds 500 tokens (got {budget.tokens})", budget.tokens == 500
    spent = []
    for _ in range(300):  # 300 calls, one after another, that each fail once, then succeed
        spent.append(budget.try_spend())
        budget.on_success(spent[-1])
    yield (f"300 calls that fail once then succeed: every retry allowed and the budget back at 500 "
           f"(allowed {sum(s is not None for s in spent)}, tokens {budget.tokens})"),\
        None not in spent and budget.tokens == 500
    budget.on_success(None)
    yield f"a first-try success never fills past 500 (got {budget.tokens})", budget.tokens == 500
    granted = 0
    while budget.try_spend() is not None and granted < 1000:  # a dependency that keeps failing
        granted += 1
    yield f"a failing dependency: 35 retries of 14 allowed, then refused (got {granted})", granted == 35
    left = budget.tokens
    yield f"... 10 tokens left, and a refusal spends nothing (got {left})", left == 10
    yield "a throttled retry costs 5: two more fit in 10 tokens", [budget.try_spend(throttled=True) for _ in range(
        3)] == [5, 5, None]
    budget.on_success(None)
    yield f"a first-try success gives back 1 (got {budget.tokens})", budget.tokens == 1
