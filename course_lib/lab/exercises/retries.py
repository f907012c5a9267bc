"""Exercise for notebook 03: write full jitter."""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Iterator

from course_lib.lab.exercises import exercise

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
