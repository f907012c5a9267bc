"""Reference solution for notebook 03's exercise."""

from __future__ import annotations

import random


def full_jitter_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Brooker's full jitter: anywhere between no wait and the exponential ceiling."""
    return rng.uniform(0, min(cap, base * 2**attempt))
