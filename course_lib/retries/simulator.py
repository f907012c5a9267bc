"""Marc Brooker's backoff-and-jitter simulation, reimplemented: one row, N optimistic writers.

The model of "Exponential Backoff And Jitter" (AWS Architecture Blog, 2015) and its simulator
(aws-samples/aws-arch-backoff-simulator): one row with a version number on a server; N clients,
each of which must write the row once. A client reads the version, then writes conditionally on
it; a write fails when another client's write got in between, and the client backs off, then reads
and tries again. Every message takes |N(10, 2)| ms on the network. A failed write's response
reaches the client, which waits its backoff and sends the next read. Base 5 ms, cap 2000 ms.
Reported per (clients, strategy), averaged over runs: write calls, and the time when the last
event (the last client's successful write response) happens.

The event loop is compiled with numba: a full sweep is tens of millions of events, which plain
Python would take minutes over. Each client has exactly one message in flight, so "the next
event" is the earliest of N due times. Given a seed, results reproduce exactly.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

# The original's labels, in its order; the CSV it writes uses exactly these.
STRATEGIES = ("Exponential", "Decorr", "EqualJitter", "FullJitter", "None")


@dataclass(frozen=True)
class SimResult:
    strategy: str
    clients: int
    calls: np.ndarray  # write calls per run
    times_ms: np.ndarray  # completion time per run
    gave_up: np.ndarray  # clients per run that ran out of retry budget (0 without a budget)

    @property
    def mean_calls(self) -> float:
        return float(self.calls.mean())

    @property
    def mean_time_ms(self) -> float:
        return float(self.times_ms.mean())


_CODES = {name: i for i, name in enumerate(STRATEGIES)}
EXPONENTIAL, DECORR, EQUAL, FULL, NONE = range(5)


@numba.njit(cache=True)
def _net(mean: float, sd: float) -> float:
    return abs(np.random.normal(mean, sd))


@numba.njit(cache=True)
def _backoff(strategy: int, attempt: int, previous: float, base: float, cap: float) -> float:
    expo = min(cap, base * 2.0**attempt)
    if strategy == EXPONENTIAL:
        return expo
    if strategy == FULL:
        return np.random.uniform(0.0, expo)
    if strategy == EQUAL:
        return expo / 2 + np.random.uniform(0.0, expo / 2)
    if strategy == DECORR:
        return min(cap, np.random.uniform(base, previous * 3))
    return 0.0


@numba.njit(cache=True)
def _simulate(strategy: int, clients: int, runs: int, base: float, cap: float, mean: float, sd: float,
              seed: int, service: float, budget: int, retry_cost: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    np.random.seed(seed)
    calls = np.zeros(runs, dtype=np.int64)
    times = np.zeros(runs)
    gave_up = np.zeros(runs, dtype=np.int64)
    due = np.empty(clients)  # when each client's one message in flight reaches the server
    writing = np.zeros(clients, dtype=np.bool_)
    seen = np.zeros(clients, dtype=np.int64)
    attempt = np.zeros(clients, dtype=np.int64)
    previous = np.empty(clients)  # decorrelated jitter's last sleep
    for run in range(runs):
        for c in range(clients):
            due[c] = _net(mean, sd)
            writing[c], seen[c], attempt[c], previous[c] = False, 0, 0, base
        version, end, pending, free, tokens = 0, 0.0, clients, 0.0, budget
        while pending:
            c = int(np.argmin(due))
            at = due[c]
            if service > 0:  # finite capacity: one call at a time, first come first served
                at = max(at, free) + service
                free = at
            if not writing[c]:  # read: note the version; the write arrives two hops later
                seen[c] = version
                due[c] = at + _net(mean, sd) + _net(mean, sd)
                writing[c] = True
                continue
            calls[run] += 1
            if seen[c] == version:  # conditional write wins; its response is the client's last event
                version += 1
                due[c] = np.inf
                pending -= 1
                end = max(end, at + _net(mean, sd))
                if budget > 0:  # botocore's refund: 1 for a first-try success, else the last retry's cost
                    tokens = min(budget, tokens + (1 if attempt[c] == 0 else retry_cost))
                continue
            if budget > 0:  # a shared retry budget: no tokens, no retry; the client gives up
                if tokens < retry_cost:
                    due[c] = np.inf
                    pending -= 1
                    gave_up[run] += 1
                    end = max(end, at + _net(mean, sd))
                    continue
                tokens -= retry_cost
            attempt[c] += 1  # lost: the response comes back, the client backs off, then reads again
            pause = _backoff(strategy, attempt[c], previous[c], base, cap)
            previous[c] = pause
            due[c] = at + _net(mean, sd) + pause + _net(mean, sd)
            writing[c] = False
        times[run] = end
    return calls, times, gave_up


def simulate(strategy: str, clients: int, runs: int = 100, base_ms: float = 5.0, cap_ms: float = 2000.0,
             net_mean_ms: float = 10.0, net_sd_ms: float = 2.0, seed: int = 0, service_ms: float = 0.0,
             budget: int = 0, retry_cost: int = 14) -> SimResult:
    """Simulate `runs` independent runs of `clients` OCC writers under one backoff strategy.

    Extensions the original lacks (off by default, so the defaults are the original model):
    service_ms > 0 gives the server finite capacity (each read or write occupies it that long, in
    arrival order), so retrying without backoff queues instead of winning; budget > 0 gives the
    clients a shared retry budget of that many tokens with botocore 1.44's standard-mode rules (14 per
    retry; a success gives back 1, or its last retry's cost if it retried); a client refused a retry
    gives up.
    """
    if strategy not in _CODES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, not {strategy!r}")
    if clients < 1 or runs < 1:
        raise ValueError("clients and runs must be at least 1")
    calls, times, gave_up = _simulate(_CODES[strategy], clients, runs, base_ms, cap_ms, net_mean_ms, net_sd_ms,
                                      seed, service_ms, budget, retry_cost)
    return SimResult(strategy, clients, calls, times, gave_up)


def amplification(layers: int, attempts: int, failure_rate: float) -> float:
    """Expected calls reaching the bottom dependency per top-level request, when every layer of a
    call chain retries up to `attempts` times and the dependency fails each call independently
    with probability `failure_rate`. At failure_rate 1 it is attempts ** layers (3 x 3 x 3 = 27).

    A layer's call fails only if all its attempts do: f_k = f_(k-1) ** attempts; it makes
    1 + f + ... + f**(attempts-1) attempts on average.
    """
    calls, failing = 1.0, failure_rate
    for _ in range(layers):
        calls *= attempts if failing >= 1 else (1 - failing**attempts) / (1 - failing)
        failing = failing**attempts
    return calls


def _row(setting: tuple[int, int, int, int, dict]) -> dict:
    n, i, runs, seed, model = setting
    result = simulate(STRATEGIES[i], n, runs=runs, seed=seed, **model)
    return {"clients": n, "time": int(result.mean_time_ms), "calls": int(result.mean_calls),
            "Algorithm": STRATEGIES[i]}


def sweep(clients: range = range(10, 200, 10), runs: int = 100, seed: int = 0, workers: int | None = None,
          **model: float) -> tuple[list[dict], float]:
    """Every strategy at every client count: rows in the original CSV's shape, and the wall time.

    Settings are independent (each has its own seed), so they run on all cores in parallel and
    still reproduce exactly.
    """
    start = time.perf_counter()
    settings = [(n, i, runs, seed * 1_000_003 + n * 10 + i, model) for n in clients for i in range(len(STRATEGIES))]
    settings.sort(key=lambda s: -s[0])  # biggest first, so no core idles at the end
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count()) as pool:
        rows = list(pool.map(_row, settings))
    rows.sort(key=lambda r: (r["clients"], STRATEGIES.index(r["Algorithm"])))
    return rows, time.perf_counter() - start
