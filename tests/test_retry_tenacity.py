"""course_lib.retry's policies agree with tenacity's equivalents, so the lesson's side-by-side is honest.

Brooker counts the first retry as attempt 1 with ceiling base * 2**1; tenacity's attempt_number is 1
after the first failure with ceiling multiplier * 2**0. So multiplier = 2 * base.
"""

from __future__ import annotations

import itertools
import random
from types import SimpleNamespace

import numpy as np
import tenacity

from course_lib.retries.policies import Exponential, FullJitter

BASE, CAP = 0.05, 3.0


def tenacity_wait(wait, attempt: int) -> float:
    return wait(SimpleNamespace(attempt_number=attempt))


def test_exponential_matches_wait_exponential_exactly():
    ours = list(itertools.islice(Exponential(BASE, CAP).delays(), 12))
    theirs = [tenacity_wait(tenacity.wait_exponential(multiplier=2 * BASE, max=CAP), n) for n in range(1, 13)]
    assert np.allclose(ours, theirs)


def test_full_jitter_has_the_distribution_of_wait_random_exponential():
    random.seed(7)  # tenacity draws from the module-level generator: seed it so the test is repeatable
    wait = tenacity.wait_random_exponential(multiplier=2 * BASE, max=CAP)
    for attempt in (1, 3, 5, 8):
        ours = np.array([next(itertools.islice(FullJitter(BASE, CAP, seed=s).delays(), attempt - 1, None))
                         for s in range(4000)])
        theirs = np.array([tenacity_wait(wait, attempt) for _ in range(4000)])
        bound = min(CAP, BASE * 2**attempt)
        assert ours.max() <= bound and theirs.max() <= bound
        # Both uniform on [0, bound]: deciles agree within sampling noise (~2% of the bound at n=4000).
        deciles = np.linspace(0.1, 0.9, 9)
        assert np.allclose(np.quantile(ours, deciles), np.quantile(theirs, deciles), atol=0.04 * bound)
