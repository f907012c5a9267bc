"""`course bench orders`: create-order over real HTTP under retries, worker crashes and a Redis restart.

The course API runs as its own process (`course serve --faults`, uvicorn) on the course database
and on a private, real redis-server that the benchmark kills and restarts halfway through. C
client threads send the workload over keep-alive HTTP connections:

* every logical order gets a fresh Idempotency-Key;
* a share of requests are retries with the same key: most after the answer arrived (a client
  whose response was lost), some at the same moment as the first (two tabs, a double click);
* a share of first attempts carry the fault header: the worker "dies" after its claim committed and
  before the order and the response are written (502); the client retries with full jitter and Retry-After until
  a lease expires and another worker takes the claim over.

Then it checks what matters: one order row per key, every success for a key carried the same order
and byte-identical body, and every key that a client saw succeed has its order in the database.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis
import sqlalchemy as sa
from tqdm import tqdm

from course_lib import backends
from course_lib.api import CRASH_AFTER_CLAIM, FAULT_HEADER
from course_lib.api.tables import reset_tables
from course_lib.auth import TokenService, create_user, seed_users
from course_lib.backends import settings
from course_lib.orders import orders
from course_lib.retries.policies import FullJitter, RetriesExhausted, Retryable, RetryPlan, retry

# Leases short enough that a crashed worker's order is recovered within the run: the lock's must
# stay below the claim's (OrderService refuses otherwise).
CLAIM_LEASE_MS, LOCK_LEASE_MS = 2_000, 1_000
# Of the retries, this share is sent at the same moment as the first attempt; the rest after it.
CONCURRENT_RETRY_SHARE = 0.1
REDIS_DOWN_S = 0.5  # how long Redis stays down during the restart
SERVER_START_TIMEOUT_S = 30
USERS = 16


@dataclass(frozen=True)
class Send:
    """One planned request: which logical order, whose token, and whether this attempt crashes."""

    order: int
    user: int
    key: str
    body: bytes
    crash: bool = False
    retry: bool = False


def workload(requests: int, retry_share: float, crash_share: float, seed: int) -> list[Send]:
    """At least `requests` sends; `retry_share` of them reuse the key of the order before them."""
    rng = random.Random(seed)
    sends: list[Send] = []
    order = 0
    while len(sends) < requests:
        user = rng.randrange(USERS)
        key = str(uuid.UUID(int=rng.getrandbits(128)))
        body = json.dumps({"currency": "EUR", "items": [
            {"sku": f"SKU-{rng.randrange(1000):04d}", "quantity": rng.randint(1, 5),
             "unit_price_cents": rng.randint(100, 10_000)}]}).encode()
        sends.append(Send(order, user, key, body, crash=rng.random() < crash_share))
        # Geometric: on average share / (1 - share) retries per first attempt, so retries make up
        # `retry_share` of all sends.
        while rng.random() < retry_share:
            sends.append(Send(order, user, key, body, retry=True))
        order += 1
    return sends


class PrivateRedis:
    """A real redis-server on a fixed loopback port that the benchmark can kill and restart."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("course bench orders and guards run their own redis-server and need the binary: "
                             "sudo apt-get install -y redis-server (or brew install redis)")
        self.binary, self.port, self.dir = binary, settings.free_port(), tempfile.mkdtemp(prefix="course-bench-")
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen([self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                                         "--appendonly", "no", "--dir", self.dir],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        for _ in range(500):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.01)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()  # SIGKILL: no goodbye, every lock it held is gone
            self.process.wait()


class Server:
    """`course serve` in its own process (as in production: not sharing the clients' CPU and GIL), on the
    given database and Redis; `faults` adds --faults and the benchmark's short leases."""

    def __init__(self, database_url: str, redis_url: str, log_path: Path, faults: bool = True,
                 env: dict[str, str] | None = None, extra: tuple[str, ...] = ()) -> None:
        self.port = settings.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, settings.DATABASE_URL: database_url, settings.REDIS_URL: redis_url, **(env or {})}
        env.pop(settings.BACKENDS, None)
        options = ["--faults", "--claim-lease-ms", str(CLAIM_LEASE_MS), "--lock-lease-ms", str(LOCK_LEASE_MS)]
        self.log = log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "course_lib.cli", "serve", "--port", str(self.port), *(options if faults else []),
             *extra],
            env=env, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            try:
                httpx.get(f"{self.url}/openapi.json", timeout=1)
                return
            except httpx.TransportError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the API server did not start; its log: {log_path}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@dataclass
class Outcomes:
    """What the clients saw, per logical order, plus every request's status and latency."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    bodies: dict[int, list[bytes]] = field(default_factory=lambda: defaultdict(list))
    gave_up: list[int] = field(default_factory=list)

    def record(self, status: int, latency_ms: float) -> None:
        with self.lock:
            self.statuses[status] += 1
            self.latencies_ms.append(latency_ms)


def _client_send(http: httpx.Client, send: Send, token: str, outcomes: Outcomes, seed: int) -> None:
    """One planned request, retried (full jitter, Retry-After honoured) until the order is answered."""
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": send.key, "Content-Type": "application/json"}
    crash = [send.crash]  # only the first attempt carries the fault

    def attempt() -> bytes:
        extra = {FAULT_HEADER: CRASH_AFTER_CLAIM} if crash[0] else {}
        crash[0] = False
        start = time.perf_counter()
        try:
            response = http.post("/api/orders", content=send.body, headers={**headers, **extra})
        except httpx.TransportError as exc:
            outcomes.record(0, (time.perf_counter() - start) * 1000)
            raise Retryable(f"transport: {exc}") from None
        outcomes.record(response.status_code, (time.perf_counter() - start) * 1000)
        if response.status_code in (200, 201):
            return response.content
        if response.status_code in (409, 502, 503):
            raise Retryable(str(response.status_code), retry_after_s=float(response.headers.get("retry-after", 0)))
        raise RuntimeError(f"unexpected {response.status_code} for order {send.order}: {response.text}")

    plan = RetryPlan(FullJitter(base_s=0.05, cap_s=1.0, seed=seed), attempts=30, deadline_s=60, method="POST",
                     headers={"Idempotency-Key": send.key})
    try:
        body = retry(attempt, plan)
    except RetriesExhausted:
        with outcomes.lock:
            outcomes.gave_up.append(send.order)
        return
    with outcomes.lock:
        outcomes.bodies[send.order].append(body)


def _drive(url: str, sends: list[Send], tokens: list[str], clients: int, restart_redis) -> tuple[Outcomes, float]:
    """Send everything from `clients` threads; call restart_redis() once, halfway through."""
    outcomes, local = Outcomes(), threading.local()
    rng = random.Random(11)
    # Sequential retries go after their first attempt in the same client's turn; concurrent ones are
    # submitted as their own task right beside it, so another thread sends them at the same moment.
    tasks: list[list[Send]] = []
    for send in sends:
        if send.retry and tasks and rng.random() >= CONCURRENT_RETRY_SHARE:
            tasks[-1].append(send)
        else:
            tasks.append([send])
    halfway, done = len(sends) // 2, [0]

    def run(task: list[Send]) -> int:
        if not hasattr(local, "http"):
            local.http = httpx.Client(base_url=url, timeout=30)
        for send in task:
            _client_send(local.http, send, tokens[send.user], outcomes, seed=hash((send.order, send.retry)))
        return len(task)

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool, tqdm(total=len(sends), desc="create-order", unit="req") as bar:
        for n in pool.map(run, tasks):
            bar.update(n)
            done[0] += n
            if done[0] >= halfway > done[0] - n:
                threading.Thread(target=restart_redis, daemon=True).start()
    return outcomes, time.perf_counter() - start


def _verify(engine, sends: list[Send], outcomes: Outcomes) -> dict[str, int]:
    keys = {s.order: (s.user, s.key) for s in sends}
    with engine.connect() as conn:
        rows = conn.execute(sa.select(orders.c.id, orders.c.idem_key)).all()
    per_key = Counter(key for _id, key in rows)
    ids = {row.id for row in rows}
    answered_ids = {order: {json.loads(b)["id"] for b in bodies} for order, bodies in outcomes.bodies.items()}
    return {
        "orders_in_database": len(rows),
        "duplicate_orders": sum(n - 1 for n in per_key.values() if n > 1)
                            + sum(len(found) - 1 for found in answered_ids.values() if len(found) > 1),
        "lost_orders": sum(1 for order in keys if order not in outcomes.bodies)
                       + sum(1 for found in answered_ids.values() if not found <= ids),
        "retries_with_a_different_body": sum(sum(b != bodies[0] for b in bodies[1:])
                                             for bodies in outcomes.bodies.values()),
        "gave_up": len(outcomes.gave_up),
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(requests: int = 10_000, clients: int = 64, retry_share: float = 0.3, crash_share: float = 0.01,
         out: Path | None = None) -> dict:
    engine = backends.sql().engine
    database_url = engine.url.render_as_string(hide_password=False)
    sends = workload(requests, retry_share, crash_share, seed=7)
    reset_tables(engine)
    seed_users(engine)
    user_ids = [create_user(engine, f"bench-{i}@example.com", f"Bench {i}", None) for i in range(USERS)]
    tokens = [TokenService(engine).create(uid, "bench").plain_text for uid in user_ids]
    build = settings.current().build_dir / "bench"
    build.mkdir(parents=True, exist_ok=True)
    private_redis = PrivateRedis()
    server = Server(database_url, private_redis.url, build / "orders-server.log")
    restarts: list[float] = []

    def restart_redis() -> None:
        private_redis.kill()
        time.sleep(REDIS_DOWN_S)
        private_redis.start()
        restarts.append(REDIS_DOWN_S)

    try:
        outcomes, elapsed = _drive(server.url, sends, tokens, clients, restart_redis)
    finally:
        server.stop()
        private_redis.kill()
    checks = _verify(engine, sends, outcomes)
    log_lines = [json.loads(line) for line in (build / "orders-server.log").read_text().splitlines()
                 if line.startswith("{")]
    lock_outcomes = Counter(line["lock"] for line in log_lines if line.get("route") == "/api/orders")
    sent = sum(outcomes.statuses.values())
    report: dict[str, Any] = {
        "benchmark": "orders",
        "backends": {"sql": f"{backends.sql().server} {backends.sql().version}",
                     "redis": "Redis (private redis-server, restarted once)"},
        "workload": {"planned_sends": len(sends), "orders": len({s.order for s in sends}), "clients": clients,
                     "retry_share": retry_share, "planned_retries": sum(s.retry for s in sends),
                     "concurrent_retry_share": CONCURRENT_RETRY_SHARE, "crashes": sum(s.crash for s in sends),
                     "claim_lease_ms": CLAIM_LEASE_MS, "lock_lease_ms": LOCK_LEASE_MS,
                     "redis_restarts": len(restarts), "redis_down_s": REDIS_DOWN_S},
        "figures": {"requests": sent, **checks, "rps": round(sent / elapsed, 1),
                    "p50_ms": round(statistics.median(outcomes.latencies_ms), 2),
                    "p99_ms": round(_percentile(outcomes.latencies_ms, 0.99), 2)},
        "statuses": {str(k): v for k, v in sorted(outcomes.statuses.items())},
        "lock_outcomes": dict(lock_outcomes.most_common()),
    }
    out = out or build / "orders.json"
    out.write_text(json.dumps(report, indent=2))
    f = report["figures"]
    print(f"{f['requests']} requests ({report['workload']['planned_retries']} planned retries, "
          f"{report['workload']['crashes']} crashes, {len(restarts)} Redis restart) from {clients} clients "
          f"in {elapsed:.1f} s: {f['rps']} req/s, p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms")
    print(f"statuses {report['statuses']}; lock {report['lock_outcomes']}")
    print(f"duplicate orders {f['duplicate_orders']}, lost orders {f['lost_orders']}, retries with a different "
          f"body {f['retries_with_a_different_body']}, gave up {f['gave_up']}  -> {out}")
    return report
