"""`course bench idempotency`: the claim-first store against AWS Lambda Powertools' idempotency utility.

One workload, replayed against both: N requests from C concurrent clients, a share of them retries
of earlier keys, and crashes injected after the work and before the response is stored (the
crashed request is retried later, as a real client would). Both sides do the same work (a 5 ms
provider call, then a charge row in SQL); ours keeps its keys in SQL, Powertools in Redis
(CachePersistenceLayer). Throughput is the median of `repeat` runs; correctness is counted
from the charges table: duplicate executions and completions lost to crashes.
"""

from __future__ import annotations

import json
import random
import statistics
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from tqdm import tqdm

from course_lib import backends
from course_lib.failpoints import crash_at
from course_lib.idempotency import IdempotencyStore, SimulatedCrash, create_charge, executions, reset
from course_lib.idempotency.charges import PROVIDER_LATENCY_S, charge
from course_lib.idempotency.store import AFTER_EXTERNAL_CALL
from course_lib.lab.scenarios.idempotency import charge_request
from course_lib.messages import Request

# Short enough that crashed requests are taken over within the run, longer than any normal
# attempt under 64-way contention on 2 cores (tens of ms).
BENCH_LEASE = timedelta(seconds=1)


@dataclass(frozen=True)
class Op:
    user: str
    key: str
    crash: bool


def workload(requests: int, retry_share: float, crash_share: float, seed: int) -> list[Op]:
    """Deterministic mix: new keys, retries of earlier keys, and a later retry for every crash."""
    rng = random.Random(seed)
    ops: list[Op] = []
    issued: list[tuple[str, str]] = []
    while len(ops) < requests:
        if issued and rng.random() < retry_share:
            user, key = rng.choice(issued)
            ops.append(Op(user, key, False))
            continue
        user, key = f"user-{rng.randrange(50)}", str(uuid.UUID(int=rng.getrandbits(128)))
        issued.append((user, key))
        crash = rng.random() < crash_share
        ops.append(Op(user, key, crash))
        if crash:
            ops.append(Op(user, key, False))
    return ops[:requests]


@dataclass
class Side:
    name: str
    rps: float
    statuses: dict[int, int]
    duplicate_executions: int
    lost_completions: int


def _drive(ops: list[Op], send: Callable[[Op], int], clients: int, label: str) -> tuple[float, Counter]:
    statuses: Counter = Counter()
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool, tqdm(total=len(ops), desc=label, unit="req", leave=False) as bar:
        for status in pool.map(send, ops):
            statuses[status] += 1
            bar.update()
    return len(ops) / (time.perf_counter() - start), statuses


def _count(engine, ops: list[Op], answered: set[tuple[str, str]]) -> tuple[int, int]:
    runs = executions(engine)
    duplicates = sum(n - 1 for n in runs.values() if n > 1)
    lost = sum(1 for op in {(o.user, o.key) for o in ops}
               if runs.get(f"{op[0]}:{op[1]}", 0) >= 1 and op not in answered)
    return duplicates, lost


def run_ours(engine, ops: list[Op], clients: int) -> Side:
    reset(engine)
    store = IdempotencyStore(engine, lease=BENCH_LEASE)
    answered: set[tuple[str, str]] = set()

    def send(op: Op) -> int:
        try:
            with crash_at(AFTER_EXTERNAL_CALL) if op.crash else nullcontext():
                answer = create_charge(store, charge_request(op.user, op.key))
        except SimulatedCrash:
            return 599
        if answer.status in (200, 201):
            answered.add((op.user, op.key))
        return answer.status

    rps, statuses = _drive(ops, send, clients, "claim-first")
    time.sleep(BENCH_LEASE.total_seconds())  # then each client whose key never answered retries once more
    for op in {(o.user, o.key) for o in ops} - answered:
        send(Op(op[0], op[1], False))
    duplicates, lost = _count(engine, ops, answered)
    return Side("claim-first (SQL)", rps, dict(statuses), duplicates, lost)


def run_powertools(engine, ops: list[Op], clients: int) -> Side:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyPersistenceLayerError,
    )
    from aws_lambda_powertools.utilities.idempotency.persistence.cache import CachePersistenceLayer

    reset(engine)
    # Outside Lambda it warns that it cannot see the remaining invocation time; expected here.
    warnings.filterwarnings("ignore", message="Couldn't determine the remaining time left")
    with warnings.catch_warnings():  # 3.x marks its Redis layer deprecated for v4; it is the current one
        warnings.simplefilter("ignore", DeprecationWarning)
        layer = CachePersistenceLayer(client=backends.redis().new_client())  # type: ignore[arg-type]  # a redis.Redis
    config = IdempotencyConfig(event_key_jmespath="[user, key]", expires_after_seconds=3600)
    answered: set[tuple[str, str]] = set()

    @idempotent_function(data_keyword_argument="request", persistence_store=layer, config=config,
                         key_prefix=f"bench-{uuid.uuid4().hex}")
    def work(request: dict) -> dict:
        req = Request(request["user"], "POST", "/charges", json.dumps(request["body"]).encode())
        ref = f"{request['user']}:{request['key']}"
        response = charge(engine, req, ref=ref, provider_latency_s=PROVIDER_LATENCY_S)
        if request["crash"]:
            raise SimulatedCrash("crashed after the work, before the response is stored")
        return response.json()

    def send(op: Op) -> int:
        try:
            body = {"amount": 1000, "currency": "EUR"}
            work(request={"user": op.user, "key": op.key, "crash": op.crash, "body": body})
        except IdempotencyAlreadyInProgressError:
            return 409
        except IdempotencyPersistenceLayerError:  # its Redis calls failed under load: counted, not fatal
            return 503
        except SimulatedCrash:
            return 599
        answered.add((op.user, op.key))
        return 201

    rps, statuses = _drive(ops, send, clients, "powertools")
    for op in {(o.user, o.key) for o in ops} - answered:
        send(Op(op[0], op[1], False))
    duplicates, lost = _count(engine, ops, answered)
    return Side("Powertools (Redis)", rps, dict(statuses), duplicates, lost)


def main(requests: int = 10_000, clients: int = 64, retry_share: float = 0.3, crash_share: float = 0.01,
         repeat: int = 3, out: Path | None = None) -> dict:
    engine = backends.sql().engine
    ops = workload(requests, retry_share, crash_share, seed=7)
    ours = [run_ours(engine, ops, clients) for _ in range(repeat)]
    peer = [run_powertools(engine, ops, clients) for _ in range(repeat)]
    ours_rps, peer_rps = statistics.median(s.rps for s in ours), statistics.median(s.rps for s in peer)
    report: dict[str, Any] = {
        "benchmark": "idempotency",
        "backends": {"sql": f"{backends.sql().server} {backends.sql().version}",
                     "redis": f"{backends.redis().server} {backends.redis().version}"},
        "workload": {"requests": requests, "clients": clients, "retry_share": retry_share,
                     "crash_share": crash_share, "crashes": sum(o.crash for o in ops), "repeat": repeat},
        "figures": {
            "requests": requests,
            "duplicate_executions": max(s.duplicate_executions for s in ours),
            "lost_completions": max(s.lost_completions for s in ours),
            "ours_rps": round(ours_rps, 1),
            "peer_rps": round(peer_rps, 1),
            "peer_duplicate_executions": max(s.duplicate_executions for s in peer),
            "peer_lost_completions": max(s.lost_completions for s in peer),
        },
        "ratio": round(ours_rps / peer_rps, 3),
        "runs": {"ours": [asdict(s) for s in ours], "peer": [asdict(s) for s in peer]},
    }
    out = out or backends.settings.current().build_dir / "bench" / "idempotency.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    f = report["figures"]
    in_flight = {"ours": statistics.median(r.statuses.get(409, 0) for r in ours),
                 "peer": statistics.median(r.statuses.get(409, 0) for r in peer)}
    print(f"{'':<22}{'req/s (median)':>15}{'duplicates':>12}{'lost':>6}{'409 in flight':>15}")
    print(f"{'claim-first (SQL)':<22}{f['ours_rps']:>15}{f['duplicate_executions']:>12}{f['lost_completions']:>6}"
          f"{in_flight['ours']:>15g}")
    print(f"{'Powertools (Redis)':<22}{f['peer_rps']:>15}{f['peer_duplicate_executions']:>12}"
          f"{f['peer_lost_completions']:>6}{in_flight['peer']:>15g}")
    print(f"ratio ours/peer = {report['ratio']}  ({requests} requests, {clients} clients, "
          f"{report['workload']['crashes']} crashes)  -> {out}")
    return report

