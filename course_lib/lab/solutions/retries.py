"""Reference solutions for notebook 03: two jitters and a retry budget."""

from __future__ import annotations

import random


def full_jitter_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Brooker's full jitter: anywhere between no wait and the exponential ceiling."""
    return rng.uniform(0, min(cap, base * 2**attempt))


def decorrelated_jitter(previous: float, base: float, cap: float, rng: random.Random) -> float:
    """Brooker's decorrelated jitter: between the base and three times the last wait, capped."""
    return min(cap, rng.uniform(base, previous * 3))


class RetryBudget:
    """botocore's standard-mode retry quota: retries spend, successes refund what their last retry spent."""

    def __init__(self, capacity: int = 500, retry_cost: int = 14, throttling_cost: int = 5) -> None:
        self.capacity, self.retry_cost, self.throttling_cost = capacity, retry_cost, throttling_cost
        self.tokens = capacity

    def try_spend(self, throttled: bool = False) -> int | None:
        cost = self.throttling_cost if throttled else self.retry_cost
        if self.tokens < cost:
            return None
        self.tokens -= cost
        return cost

    def on_success(self, last_spent: int | None) -> None:
        self.tokens = min(self.capacity, self.tokens + (1 if last_spent is None else last_spent))


retry_budget = RetryBudget
