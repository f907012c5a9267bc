"""`course bench idempotency`: the claim-first store against AWS Lambda Powertools' idempotency utility.

One workload, replayed against both: N requests from C concurrent clients; a share of them retries of
earlier keys, a share reuses an earlier key with another amount (sent last, once those keys have
answered; both sides must refuse them), and a share crashes after the provider call and before the
charge row, then is retried later, as a real client would. Everything that is not the idempotency
mechanism is the same on both sides:

- **the work**: the provider call (5 ms, outside any transaction), then the charge row, unique on
  (scope, key), written by the same `record_charge` in one transaction;
- **two crash kinds**: `exception` (the provider timed out: the call raises; ours releases its
  claim, Powertools deletes its record, and the retry runs the work again) and `death` (the process
  was killed, `ProcessKilled` is a BaseException that no `except Exception` handler sees: the
  claim or record stays until the lease, 1 s on both sides, then a retry takes over);
- **payload validation**: our request fingerprint; Powertools' `payload_validation_jmespath`
  (with its Redis layer's dropped-hash bug fixed: see `powertools_peer`).

Ours keeps its keys in SQL, Powertools in Redis. Throughput is the median of `repeat` runs;
correctness is counted from the charges table and the provider's ledger.
"""

from __future__ import annotations

import json
import random
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from tqdm import tqdm

from course_lib import backends
from course_lib.idempotency import IdempotencyStore, executions, reset
from course_lib.idempotency.charges import PROVIDER_LATENCY_S, call_provider, record_charge
from course_lib.idempotency.operation import Operation
from course_lib.idempotency.schema import charges
from course_lib.lab.bench import powertools_peer
from course_lib.lab.scenarios.idempotency import charge_request
from course_lib.messages import Request

# Short enough that crashed requests are taken over within the run, longer than any normal
# attempt under 64-way contention on 2 cores (tens of ms). The same on both sides.
BENCH_LEASE = timedelta(seconds=1)
AMOUNT, OTHER_AMOUNT = 1000, 2000  # a reused key asks for OTHER_AMOUNT: it must never be charged
# A reused key is one issued at least this many requests earlier, so that its first request has run.
REUSE_DISTANCE = 200
Crash = Literal["exception", "death"]
MODEL = {
    "work": f"provider call ({PROVIDER_LATENCY_S * 1000:g} ms, no transaction), then the charge row unique on "
            "(scope, key) in one transaction: the same code on both sides",
    "crash exception": "the provider call raises: ours releases its claim, Powertools deletes its record; "
                       "the retry runs the work again",
    "crash death": f"the process is killed after the provider call: claim/record stay until the lease "
                   f"({BENCH_LEASE.total_seconds():g} s on both sides), then a retry takes over",
    "payload validation": "ours: request fingerprint; Powertools: payload_validation_jmespath='body' "
                          "(its Redis layer fixed to keep the hash on completion)",
    "keys": "ours: SQL (claim row); Powertools: Redis (CachePersistenceLayer)",
}


class ProcessKilled(BaseException):
    """The process died mid-request. A BaseException, so neither side's `except Exception` cleanup runs,
    as none runs when a container is killed."""


class ProviderTimeout(Exception):
    """The provider call raised after it was sent: an ordinary failure that both sides clean up."""


@dataclass(frozen=True)
class Op:
    user: str
    key: str
    amount: int = AMOUNT
    crash: Crash | None = None


def workload(requests: int, retry_share: float, crash_share: float, seed: int,
             mismatch_share: float = 0.02) -> list[Op]:
    """Deterministic mix: new keys; retries of earlier keys; reuses of a key (issued at least
    REUSE_DISTANCE earlier, whose first request did not crash) with another amount; crashes (half of each
    kind), each followed by a later retry."""
    rng = random.Random(seed)
    ops: list[Op] = []
    issued: list[tuple[str, str]] = []
    settled: list[tuple[str, str, int]] = []  # (user, key, index of its first request) for keys that did not crash
    while len(ops) < requests:
        draw = rng.random()
        reusable = [s for s in settled[-500:] if s[2] <= len(ops) - REUSE_DISTANCE]
        if reusable and draw < mismatch_share:
            user, key, _ = rng.choice(reusable)
            ops.append(Op(user, key, OTHER_AMOUNT))
        elif issued and draw < mismatch_share + retry_share:
            user, key = rng.choice(issued)
            ops.append(Op(user, key))
        else:
            user, key = f"user-{rng.randrange(50)}", str(uuid.UUID(int=rng.getrandbits(128)))
            issued.append((user, key))
            crash: Crash | None = None
            if rng.random() < crash_share:
                crash = "exception" if rng.random() < 0.5 else "death"
            ops.append(Op(user, key, AMOUNT, crash))
            if crash:
                ops.append(Op(user, key))
            else:
                settled.append((user, key, len(ops) - 1))
    return ops[:requests]


class Provider:
    """The payment provider: the same call on both sides, with a ledger of calls per (scope, key).
    A repeat is not a second charge (the provider deduplicates on the key it is given); it counts
    how often a crash made a side call again."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def call(self, request: Request, scope: str, key: str, crash: Crash | None) -> None:
        call_provider(request, scope, key, PROVIDER_LATENCY_S)
        with self._lock:
            self.calls[f"{scope}:{key}"] += 1
        if crash == "exception":
            raise ProviderTimeout("the provider timed out after receiving the call")
        if crash == "death":
            raise ProcessKilled("killed after the provider call, before the charge row")

    @property
    def repeats(self) -> int:
        return sum(n - 1 for n in self.calls.values())


@dataclass
class Side:
    name: str
    rps: float
    statuses: dict[int, int]
    duplicate_charges: int  # charge rows beyond one per (user, key): must be 0
    lost_completions: int  # keys charged whose client never got a success, even after a final retry
    wrong_amount_charges: int  # charges made for a reused key's other amount: must be 0
    mismatches_refused: int  # reused keys answered 422
    provider_repeats: int  # provider calls beyond one per key: the crashes' re-runs, deduplicated by the provider


Send = Callable[[Op], int]


def _drive(ops: list[Op], send: Send, clients: int, label: str) -> tuple[float, Counter]:
    """Send `ops` from `clients` threads; the seconds it took and the statuses."""
    statuses: Counter = Counter()
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool, tqdm(total=len(ops), desc=label, unit="req", leave=False) as bar:
        for status in pool.map(send, ops):
            statuses[status] += 1
            bar.update()
    return time.perf_counter() - start, statuses


def _run(engine, name: str, ops: list[Op], clients: int, send: Send, provider: Provider,
         answered: set[tuple[str, str]]) -> Side:
    """Drive `ops`, wait one lease, retry once every key that never answered, send the reuses, then count.

    The reuses (a key with another amount) go last, when every key they reuse has answered: which request
    claims a key first is then not a race (on SQLite a writer can wait a second for its lock while
    hundreds of others pass it, and a reuse that claims first is, rightly, the one that is charged)."""
    reuses = [o for o in ops if o.amount == OTHER_AMOUNT]
    seconds, statuses = _drive([o for o in ops if o.amount != OTHER_AMOUNT], send, clients, name)
    time.sleep(BENCH_LEASE.total_seconds())
    for user, key in {(o.user, o.key) for o in ops} - answered:
        send(Op(user, key))
    reuse_seconds, reuse_statuses = _drive(reuses, send, clients, f"{name}: reused keys")
    statuses += reuse_statuses
    rps = len(ops) / (seconds + reuse_seconds)
    runs = executions(engine)
    with engine.connect() as conn:
        wrong = conn.execute(sa.select(sa.func.count()).select_from(charges)
                             .where(charges.c.amount == OTHER_AMOUNT)).scalar_one()
    lost = sum(1 for user, key in {(o.user, o.key) for o in ops}
               if runs.get(f"{user}:{key}", 0) >= 1 and (user, key) not in answered)
    return Side(name, rps, dict(statuses), sum(n - 1 for n in runs.values() if n > 1), lost, wrong,
                statuses.get(422, 0), provider.repeats)


def run_ours(engine, ops: list[Op], clients: int) -> Side:
    reset(engine)
    store, provider = IdempotencyStore(engine, lease=BENCH_LEASE), Provider()
    answered: set[tuple[str, str]] = set()

    def send(op: Op) -> int:
        operation = Operation(external=lambda req, scope, key: provider.call(req, scope, key, op.crash),
                              record=record_charge)
        try:
            answer = store.handle(charge_request(op.user, op.key, op.amount), operation)
        except ProviderTimeout:
            return 500
        except ProcessKilled:
            return 599
        if answer.status in (200, 201):
            answered.add((op.user, op.key))
        return answer.status

    return _run(engine, "claim-first (SQL)", ops, clients, send, provider, answered)


def run_powertools(engine, ops: list[Op], clients: int) -> Side:
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyPersistenceLayerError,
        IdempotencyValidationError,
    )

    reset(engine)
    provider = Provider()
    answered: set[tuple[str, str]] = set()

    def work(request: dict) -> dict:
        req = charge_request(request["user"], request["key"], request["body"]["amount"])
        provider.call(req, request["user"], request["key"], request["crash"])
        with engine.begin() as conn:
            return record_charge(conn, req, request["user"], request["key"]).json()

    idempotent = powertools_peer.wrap(work, backends.redis().new_client(), int(BENCH_LEASE.total_seconds() * 1000))

    def send(op: Op) -> int:
        try:
            idempotent(request={"user": op.user, "key": op.key, "crash": op.crash,
                                "body": {"amount": op.amount, "currency": "EUR"}})
        except IdempotencyAlreadyInProgressError:
            return 409
        except IdempotencyValidationError:
            return 422
        except IdempotencyPersistenceLayerError:  # its Redis calls failed under load: counted, not fatal
            return 503
        except ProviderTimeout:
            return 500
        except ProcessKilled:
            return 599
        answered.add((op.user, op.key))
        return 201

    return _run(engine, "Powertools (Redis)", ops, clients, send, provider, answered)


def main(requests: int = 10_000, clients: int = 64, retry_share: float = 0.3, crash_share: float = 0.01,
         repeat: int = 3, out: Path | None = None, mismatch_share: float = 0.02) -> dict:
    engine = backends.sql().engine
    ops = workload(requests, retry_share, crash_share, seed=7, mismatch_share=mismatch_share)
    shipped_bug = powertools_peer.validation_rejects_identical_retry(backends.redis().new_client(),
                                                                      keep_validation_hash=False)
    ours = [run_ours(engine, ops, clients) for _ in range(repeat)]
    peer = [run_powertools(engine, ops, clients) for _ in range(repeat)]
    ours_rps, peer_rps = statistics.median(s.rps for s in ours), statistics.median(s.rps for s in peer)
    crashes = Counter(o.crash for o in ops if o.crash)
    report: dict[str, Any] = {
        "benchmark": "idempotency",
        "backends": {"sql": f"{backends.sql().server} {backends.sql().version}",
                     "redis": f"{backends.redis().server} {backends.redis().version}"},
        "workload": {"requests": requests, "clients": clients, "retry_share": retry_share,
                     "crash_share": crash_share, "mismatch_share": mismatch_share,
                     "crashes": sum(crashes.values()), "crashes_by_kind": dict(crashes),
                     "mismatches": sum(o.amount == OTHER_AMOUNT for o in ops), "repeat": repeat},
        "model": MODEL,
        "peer_as_shipped_rejects_identical_retry": shipped_bug,
        "figures": {"requests": requests, "ours_rps": round(ours_rps, 1), "peer_rps": round(peer_rps, 1),
                    **{f"{prefix}_{field}": max(getattr(s, field) for s in side)
                       for prefix, side in (("ours", ours), ("peer", peer))
                       for field in ("duplicate_charges", "lost_completions", "wrong_amount_charges",
                                     "provider_repeats")},
                    **{f"{prefix}_mismatches_refused": min(s.mismatches_refused for s in side)
                       for prefix, side in (("ours", ours), ("peer", peer))}},
        "ratio": round(ours_rps / peer_rps, 3),
        "runs": {"ours": [asdict(s) for s in ours], "peer": [asdict(s) for s in peer]},
    }
    out = out or backends.settings.current().build_dir / "bench" / "idempotency.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    _print(report, ours, peer, out)
    return report


def held(report: dict[str, Any], side: str) -> bool:
    """True when `side` ("ours" or "peer") charged once per key, lost nothing and refused every reused key."""
    f = report["figures"]
    return (f[f"{side}_duplicate_charges"] == f[f"{side}_lost_completions"] == f[f"{side}_wrong_amount_charges"] == 0
            and f[f"{side}_mismatches_refused"] == report["workload"]["mismatches"])


def _print(report: dict[str, Any], ours: list[Side], peer: list[Side], out: Path) -> None:
    f, w = report["figures"], report["workload"]
    for what, how in report["model"].items():
        print(f"{what + ':':<20}{how}")
    columns = ("req/s (median)", "dup charges", "lost", "wrong amount", "422 of reuses", "provider repeats",
               "409 in flight")
    print(f"\n{'':<20}" + "".join(f"{c:>17}" for c in columns))
    for label, prefix, side in (("claim-first (SQL)", "ours", ours), ("Powertools (Redis)", "peer", peer)):
        cells = (f[f"{prefix}_rps"], f[f"{prefix}_duplicate_charges"], f[f"{prefix}_lost_completions"],
                 f[f"{prefix}_wrong_amount_charges"], f"{f[f'{prefix}_mismatches_refused']}/{w['mismatches']}",
                 f[f"{prefix}_provider_repeats"], statistics.median(r.statuses.get(409, 0) for r in side))
        print(f"{label:<20}" + "".join(f"{c!s:>17}" for c in cells))
    print(f"ratio ours/peer = {report['ratio']}  ({w['requests']} requests, {w['clients']} clients, "
          f"crashes {w['crashes_by_kind']}, {w['mismatches']} reused keys)  -> {out}")
    if report["peer_as_shipped_rejects_identical_retry"]:
        print("note: Powertools' Redis layer as shipped refuses an identical retry of a completed call when payload "
              "validation is on (it drops the hash on completion); the peer above runs with that fixed.")
