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
              seed: int) -> tuple[np.ndarray, np.ndarray]:
    np.random.seed(seed)
    calls = np.zeros(runs, dtype=np.int64)
    times = np.zeros(runs)
    due = np.empty(clients)  # when each client's one message in flight reaches the server
    writing = np.zeros(clients, dtype=np.bool_)
    seen = np.zeros(clients, dtype=np.int64)
    attempt = np.zeros(clients, dtype=np.int64)
    previous = np.empty(clients)  # decorrelated jitter's last sleep
    for run in range(runs):
        for c in range(clients):
            due[c] = _net(mean, sd)
            writing[c], seen[c], attempt[c], previous[c] = False, 0, 0, base
        version, end, pending = 0, 0.0, clients
        while pending:
            c = np.argmin(due)
            at = due[c]
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
                continue
            attempt[c] += 1  # lost: the response comes back, the client backs off, then reads again
            pause = _backoff(strategy, attempt[c], previous[c], base, cap)
            previous[c] = pause
            due[c] = at + _net(mean, sd) + pause + _net(mean, sd)
            writing[c] = False
        times[run] = end
    return calls, times


def simulate(strategy: str, clients: int, runs: int = 100, base_ms: float = 5.0, cap_ms: float = 2000.0,
             net_mean_ms: float = 10.0, net_sd_ms: float = 2.0, seed: int = 0) -> SimResult:
    """Simulate `runs` independent runs of `clients` OCC writers under one backoff strategy."""
    if strategy not in _CODES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, not {strategy!r}")
    if clients < 1 or runs < 1:
        raise ValueError("clients and runs must be at least 1")
    calls, times = _simulate(_CODES[strategy], clients, runs, base_ms, cap_ms, net_mean_ms, net_sd_ms, seed)
    return SimResult(strategy, clients, calls, times)


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
