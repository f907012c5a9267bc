"""The backoff simulator reproduces the original's results and its own runs."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import numpy as np
import pytest

from course_lib.retries import simulator

REFERENCE = Path(__file__).parents[1] / "data" / "jitter" / "original_simulator_seed1.csv"


def test_seeded_runs_reproduce_exactly():
    a = simulator.simulate("FullJitter", 40, runs=20, seed=3)
    b = simulator.simulate("FullJitter", 40, runs=20, seed=3)
    assert np.array_equal(a.calls, b.calls) and np.array_equal(a.times_ms, b.times_ms)
    assert not np.array_equal(a.calls, simulator.simulate("FullJitter", 40, runs=20, seed=4).calls)


def test_every_client_writes_exactly_once():
    for strategy in simulator.STRATEGIES:
        result = simulator.simulate(strategy, 25, runs=10)
        assert (result.calls >= 25).all() and (result.times_ms > 0).all()


def test_sweep_matches_the_original_simulator():
    reference = {(int(r["clients"]), r["Algorithm"]): int(r["calls"]) for r in csv.DictReader(REFERENCE.open())}
    rows, _wall = simulator.sweep()
    ours = {(r["clients"], r["Algorithm"]): r["calls"] for r in rows}
    assert ours.keys() == reference.keys()
    for key, calls in reference.items():
        assert abs(ours[key] / calls - 1) <= 0.10, (key, ours[key], calls)
    for n in range(10, 200, 10):
        for a, b in itertools.combinations(simulator.STRATEGIES, 2):
            ra, rb = reference[(n, a)], reference[(n, b)]
            if abs(ra - rb) > 0.05 * max(ra, rb):  # a real difference, not a tie within noise
                assert (ours[(n, a)] < ours[(n, b)]) == (ra < rb), (n, a, b)


def test_full_jitter_beats_exponential_from_50_clients():
    for n in (50, 100, 190):
        full = simulator.simulate("FullJitter", n, runs=30).mean_calls
        assert full < simulator.simulate("Exponential", n, runs=30).mean_calls


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="strategy must be one of"):
        simulator.simulate("Linear", 10)
    with pytest.raises(ValueError, match="at least 1"):
        simulator.simulate("None", 0)
