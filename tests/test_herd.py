"""The real-Redis backoff experiment: every client writes once, whatever the policy."""

from __future__ import annotations

import pytest

from course_lib import backends
from course_lib.lab.scenarios import herd


@pytest.mark.parametrize("policy", ["None", "Exponential", "FullJitter", "EqualJitter", "Decorr"])
def test_every_client_increments_exactly_once(policy):
    result = herd.run(backends.redis().new_client(), policy, clients=8, base_s=0.001, cap_s=0.01, gap_s=0.001)
    assert result.final_value == 8 and result.calls >= 8


def test_unknown_policy_is_explained():
    with pytest.raises(ValueError, match="unknown policy"):
        herd.policy_named("Linear", 0.01, 1, 0)
