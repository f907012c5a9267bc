"""The backoff experiment on a real Redis: N clients, one key, optimistic writes with WATCH/MULTI.

The same game as Brooker's simulation (course_lib.jitter_sim), played for real: each client must
increment the key once. It WATCHes the key, reads it, spends `gap` (the network round trip and
the work between read and write in a real service), then writes in MULTI/EXEC. If another client
wrote in between, EXEC fails (WatchError): a lost write, so it backs off per its policy and tries
again. We count EXEC calls and the time until the last client is done.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import redis

from course_lib.lab import race
from course_lib.retries.policies import Constant, DecorrelatedJitter, EqualJitter, Exponential, FullJitter, Policy


def policy_named(name: str, base_s: float, cap_s: float, seed: int) -> Policy:
    """A retry policy by the simulator's label ("None" retries at once)."""
    policies: dict[str, Callable[[], Policy]] = {
        "None": lambda: Constant(0.0),
        "Exponential": lambda: Exponential(base_s, cap_s),
        "FullJitter": lambda: FullJitter(base_s, cap_s, seed),
        "EqualJitter": lambda: EqualJitter(base_s, cap_s, seed),
        "Decorr": lambda: DecorrelatedJitter(base_s, cap_s, seed),
    }
    if name not in policies:
        raise ValueError(f"unknown policy {name!r}; choose from {sorted(policies)}")
    return policies[name]()


@dataclass(frozen=True)
class HerdResult:
    policy: str
    clients: int
    calls: int  # EXEC attempts, successful or not
    seconds: float
    final_value: int


def run(client: redis.Redis, policy: str, clients: int, base_s: float = 0.005, cap_s: float = 0.25,
        gap_s: float = 0.005, seed: int = 0) -> HerdResult:
    """N threads, released together, each incrementing one fresh key exactly once.

    Defaults keep Brooker's proportions (base = half a round trip, gap ~ one round trip with 20%
    spread) at a scale where 50 clients finish in seconds; the cap of 250 ms keeps plain
    exponential backoff's long tail short enough for a notebook cell.
    """
    key = f"herd:{uuid.uuid4().hex}"
    client.set(key, 0)
    calls = [0] * clients

    def one_client(caller: race.Caller) -> None:
        delays = policy_named(policy, base_s, cap_s, seed * 1000 + caller.index).delays()
        gap = random.Random(seed * 7919 + caller.index)
        while True:
            with client.pipeline() as pipe:
                try:
                    pipe.watch(key)
                    value = int(pipe.get(key) or 0)
                    time.sleep(abs(gap.gauss(gap_s, gap_s / 5)))  # the round trip between read and write
                    pipe.multi()
                    pipe.set(key, value + 1)
                    calls[caller.index] += 1
                    pipe.execute()
                    return
                except redis.WatchError:
                    time.sleep(next(delays))

    result = race.run(one_client, callers=clients)
    result.raise_first_error()
    final = int(client.get(key) or 0)
    client.delete(key)
    return HerdResult(policy, clients, sum(calls), result.elapsed, final)


def median_run(client: redis.Redis, policy: str, clients: int, runs: int = 3, seed: int = 0, **options) -> HerdResult:
    """The run with the median number of EXEC calls out of `runs` (seeds seed, seed+1, ...).

    One run of 50 threads on a 2-core laptop is at the scheduler's mercy; the median of three is
    what a comparison between policies should rest on.
    """
    results = sorted((run(client, policy, clients, seed=seed + i, **options) for i in range(runs)),
                     key=lambda r: r.calls)
    return results[len(results) // 2]
