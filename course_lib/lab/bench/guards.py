"""`course bench guards`: what create-order's guarantees cost, against the endpoint written without them.

Three servers, each `course serve` in its own process on the same database and the same stack (FastAPI,
SQLAlchemy Core on PyMySQL, the same pool): the course API's `POST /api/orders` as shipped (the case
study's Redis lock, claim-first key record, order upsert, stored response: 409 in flight, 422 on a
changed payload, byte-identical replays, takeover after a crash); the same API without the Redis lock
(`--no-lock`: every one of those guarantees is the claim's and the upsert's, the lock only turns
concurrent duplicates away before the claim); and the plain baseline of `course_lib/api/plain.py` (a
token check and one INSERT under the unique (user_id, idem_key) index). They take turns under the same
closed-loop load: C client threads, each sending one request after another for `seconds`, with fresh
keys, then with a share of requests repeating one of the client's earlier keys. Per run and side it
measures req/s, p50/p99, the server process's CPU per request, the statements, commits and pings per
request (from MariaDB's global status counters, with their redo-log fsyncs; or, where the MariaDB is shared
with others, `wire=True`, counted on the wire between that server and MariaDB by `wire.WireCounter`), and
from the private redis-server's counters the Redis commands per request (a script's own calls included).
Figures are medians of `runs`.
"""

from __future__ import annotations

import contextlib
import json
import random
import statistics
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import redis
import sqlalchemy as sa

from course_lib import backends
from course_lib.api.tables import reset_tables
from course_lib.auth import TokenService, create_user, seed_users
from course_lib.backends import settings
from course_lib.backends.columns import is_mysql
from course_lib.idempotency.schema import idempotency_keys
from course_lib.lab.bench.orders import PrivateRedis, Server, _percentile
from course_lib.lab.bench.wire import WireCounter
from course_lib.lab.plots import grouped_bars
from course_lib.orders import orders

USERS, WARM_UP_S = 16, 2.0
# The servers, as `course serve` options: the course API as shipped (the case study's Redis lock in front of
# the claim), the same API without the lock (the claim alone guards), and the plain baseline.
SIDES = {"course": (), "no_lock": ("--no-lock",), "plain": ("--plain",)}
SCENARIOS = {"fresh": 0.0, "repeats": 0.3}  # share of requests that repeat one of the client's earlier keys
# MariaDB's global counters for statements, pings, COMMITs, and InnoDB's fsyncs (MariaDB 10.8+ counts the
# redo log's in Innodb_data_fsyncs; MySQL also has Innodb_os_log_fsyncs, the redo log's alone).
COUNTERS = {"Questions": "statements", "Com_admin_commands": "pings", "Com_commit": "commits",
            "Innodb_data_fsyncs": "fsyncs"}
BODY = json.dumps({"currency": "EUR", "items": [{"sku": "BOOK-DDIA", "quantity": 1, "unit_price_cents": 4200}]}
                  ).encode()


@dataclass
class Run:
    side: str
    scenario: str
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_request: float
    statements_per_request: float | None
    pings_per_request: float | None
    commits_per_request: float | None
    fsyncs_per_request: float | None
    redis_per_request: float
    others_cores: float
    statuses: dict[str, int] = field(default_factory=dict)


def _status_counters(engine) -> dict[str, int] | None:
    """MariaDB's global counters, by our names (None on SQLite, which has none)."""
    with engine.connect() as conn:
        if not is_mysql(conn):
            return None
        names = ", ".join(f"'{n}'" for n in COUNTERS)
        return {COUNTERS[name]: int(value) for name, value in conn.exec_driver_sql(
            f"SHOW GLOBAL STATUS WHERE Variable_name IN ({names})").all()}


def _clients(url: str, tokens: list[str], clients: int, seconds: float, repeat_share: float, seed: int
             ) -> tuple[Counter, list[float]]:
    """`clients` threads in a closed loop for `seconds`: each sends its next request when the last answered."""
    statuses: Counter = Counter()
    latencies: list[float] = []
    lock, stop = threading.Lock(), time.perf_counter() + seconds

    def client(i: int) -> None:
        rng, sent = random.Random(seed * 1000 + i), list[str]()
        token = tokens[i % len(tokens)]
        with httpx.Client(base_url=url, timeout=30) as http:
            while time.perf_counter() < stop:
                key = rng.choice(sent) if sent and rng.random() < repeat_share else str(uuid.uuid4())
                sent.append(key)
                started = time.perf_counter()
                response = http.post("/api/orders", content=BODY, headers={
                    "Authorization": f"Bearer {token}", "Idempotency-Key": key, "Content-Type": "application/json"})
                with lock:
                    statuses[response.status_code] += 1
                    latencies.append((time.perf_counter() - started) * 1000)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses, latencies


# CPU per request compares sides measured in turns only if nothing else competes for the cores meanwhile: on
# a workshop's server another learner's notebook may. Above this many cores' worth of other processes' CPU
# during a turn, the report says the machine was busy (the counts stay exact; the CPU figures do not).
BUSY_CORES = 0.25
SERVICES = {"mariadbd", "mysqld"}  # serves this bench too: not counted as someone else's work


def _others_cpu(ours: set[int]) -> float:
    """CPU seconds the whole machine has used, less this process tree's and the database server's."""
    total = sum(psutil.cpu_times()[:3])  # user, nice, system
    for process in psutil.process_iter(["name"]):
        if process.pid in ours or process.info["name"] in SERVICES:
            with contextlib.suppress(psutil.Error):  # gone meanwhile
                total -= sum(process.cpu_times()[:4])  # user, system and its waited-for children
    return total


def _our_pids() -> set[int]:
    me = psutil.Process()
    return {me.pid, *(child.pid for child in me.children(recursive=True))}


def _redis_commands(client: redis.Redis) -> int:
    """Commands the private redis-server has run, a Lua script's own calls included: the lock's SET, then its
    release's EVALSHA running GET and DEL, is 4 commands in 2 round trips. The INFO itself counts one (a new
    connection's HELLO another: so `client` stays connected)."""
    return int(client.info("stats")["total_commands_processed"])


def _redis_settled(client: redis.Redis, quiet_s: float = 0.05, limit_s: float = 2.0) -> tuple[int, int]:
    """The command count once nothing else arrives, and how many INFOs it took to see that (each counts
    itself). The lock's release runs after its response is sent, so the last requests' releases can land
    after the clients have their answers: on a busy machine, in the next side's turn."""
    deadline, last, reads = time.monotonic() + limit_s, _redis_commands(client), 1
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now, reads = _redis_commands(client), reads + 1
        if now == last + 1:
            break
        last = now
    return now, reads


def _measure(side: str, server: Server, engine, redis_server: PrivateRedis, tokens: list[str], scenario: str,
             clients: int, seconds: float, seed: int, warm_up_s: float = WARM_UP_S,
             wire: WireCounter | None = None) -> Run:
    with engine.begin() as conn:  # every run starts from the same empty tables
        conn.execute(sa.delete(orders))
        conn.execute(sa.delete(idempotency_keys))
    _clients(server.url, tokens, clients, warm_up_s, SCENARIOS[scenario], seed)  # connections, caches
    process = psutil.Process(server.process.pid)
    count = wire.counts if wire else lambda: _status_counters(engine)
    redis_counter = redis.Redis.from_url(redis_server.url)
    before_redis, _ = _redis_settled(redis_counter)  # the warm-up's last releases in, then the other counters
    ours = _our_pids()
    before_cpu, before_db, before_others = sum(process.cpu_times()[:2]), count(), _others_cpu(ours)
    started = time.perf_counter()
    statuses, latencies = _clients(server.url, tokens, clients, seconds, SCENARIOS[scenario], seed)
    elapsed = time.perf_counter() - started
    after_redis, reads = _redis_settled(redis_counter)
    redis_counter.close()
    cpu, after_db = sum(process.cpu_times()[:2]) - before_cpu, count()
    others = (_others_cpu(ours) - before_others) / elapsed
    redis_commands = after_redis - before_redis - reads  # less our own INFOs
    n = sum(statuses.values())
    per = {name: round((after_db[name] - before_db[name]) / n, 2) for name in after_db} if before_db and after_db \
        else {}
    return Run(side, scenario, n, round(n / elapsed, 1), round(statistics.median(latencies), 2),
               round(_percentile(latencies, 0.99), 2), round(cpu * 1000 / n, 3), per.get("statements"),
               per.get("pings"), per.get("commits"), per.get("fsyncs"), round(redis_commands / n, 2),
               round(max(others, 0.0), 2), {str(k): v for k, v in sorted(statuses.items())})


def _median(runs: list[Run], attr: str) -> float | None:
    """The median of `attr` over `runs` (None when the backend has no such counter: SQLite)."""
    values = [getattr(r, attr) for r in runs if getattr(r, attr) is not None]
    return round(statistics.median(values), 3) if values else None


def main(seconds: float = 20.0, runs: int = 3, clients: int = 64, out: Path | None = None,
         warm_up_s: float = WARM_UP_S, wire: bool = False) -> dict:
    """The three servers, `runs` turns each per scenario; a notebook passes a short `seconds` and `warm_up_s`,
    and `wire=True` to count each server's own round trips on a MariaDB that others may be using."""
    engine = backends.sql().engine
    reset_tables(engine)
    seed_users(engine)
    user_ids = [create_user(engine, f"guards-{i}@example.com", f"Guards {i}", None) for i in range(USERS)]
    tokens = [TokenService(engine).create(uid, "bench", ["orders:create"]).plain_text for uid in user_ids]
    build = settings.current().build_dir / "bench"
    build.mkdir(parents=True, exist_ok=True)
    redis_server = PrivateRedis()
    counters = {side: WireCounter(engine.url.host or "127.0.0.1", engine.url.port or 3306)
                for side in SIDES} if wire and engine.dialect.name == "mysql" else {}
    servers = {side: Server(_through(engine.url, counters.get(side)), redis_server.url, build / f"guards-{side}.log",
                            faults=False, extra=options) for side, options in SIDES.items()}
    measured: list[Run] = []
    try:
        for scenario in SCENARIOS:
            for run in range(runs):
                turn = list(SIDES)[run % len(SIDES):] + list(SIDES)[:run % len(SIDES)]  # drift hits every side
                for side in turn:
                    measured.append(_measure(side, servers[side], engine, redis_server, tokens, scenario, clients,
                                             seconds, run, warm_up_s, counters.get(side)))
                    print(_line(measured[-1]), flush=True)
    finally:
        for server in servers.values():
            server.stop()
        for counter in counters.values():
            counter.close()
        redis_server.kill()
    report = _report(measured, seconds, runs, clients, "wire" if counters else "server")
    out = out or build / "guards.json"
    out.write_text(json.dumps(report, indent=2))
    _print(report, out)
    return report


def _through(url: sa.URL, counter: WireCounter | None) -> str:
    """The database URL a server connects with: straight to MariaDB, or through its wire counter."""
    return (url.set(host="127.0.0.1", port=counter.port) if counter else url).render_as_string(hide_password=False)


def _report(measured: list[Run], seconds: float, runs: int, clients: int, counted: str) -> dict[str, Any]:
    sides: dict[str, dict[str, Any]] = {}
    for scenario in SCENARIOS:
        per_side = {side: [r for r in measured if r.side == side and r.scenario == scenario] for side in SIDES}
        medians = {side: {attr: _median(rs, attr) for attr in (
            "rps", "p50_ms", "p99_ms", "cpu_ms_per_request", "statements_per_request", "pings_per_request",
            "commits_per_request", "fsyncs_per_request", "redis_per_request")} for side, rs in per_side.items()}
        course, no_lock, plain = medians["course"], medians["no_lock"], medians["plain"]
        sides[scenario] = {"ratio": _ratio(course, plain, "rps"), "figures": {
            **medians, "cpu_per_request_ratio": _ratio(course, plain, "cpu_ms_per_request"),
            "without_lock": {"ratio": _ratio(no_lock, plain, "rps"),
                             "cpu_per_request_ratio": _ratio(no_lock, plain, "cpu_ms_per_request")}}}
    return {"benchmark": "guards",
            "backends": {"sql": f"{backends.sql().server} {backends.sql().version}", "redis": "private redis-server"},
            "workload": {"seconds": seconds, "runs": runs, "clients": clients, "scenarios": SCENARIOS},
            "database_counters": counted, "others_cores": max(r.others_cores for r in measured),
            "quiet": all(r.others_cores <= BUSY_CORES for r in measured),
            "ratio": sides["fresh"]["ratio"], "figures": sides["fresh"]["figures"], "repeats": sides["repeats"],
            "runs": [asdict(r) for r in measured]}


def _ratio(course: dict[str, float | None], plain: dict[str, float | None], attr: str) -> float:
    """course / plain for a figure every run has (req/s, CPU per request)."""
    return round(float(course[attr] or 0) / float(plain[attr] or 1), 3)


# How notebook 02 shows a report: the sides by name, and the figures it plots.
SIDE_NAMES = {"course": "course API", "no_lock": "without the lock", "plain": "plain"}
PLOTTED = {"CPU ms / request": "cpu_ms_per_request", "statements / request": "statements_per_request",
           "commits / request": "commits_per_request", "Redis commands / request": "redis_per_request"}


def bars(figures: dict[str, Any], title: str) -> Any:
    """The sides' figures as grouped bars (those the database counts are left out on SQLite)."""
    return grouped_bars({label: {SIDE_NAMES[side]: figures[side][key] for side in SIDES}
                         for label, key in PLOTTED.items() if figures["course"][key] is not None}, title)


def round_trips(figures: dict[str, Any]) -> dict[str, int]:
    """Database round trips per request for each side: statements plus pool pre-pings (MariaDB only)."""
    return {side: round(figures[side]["statements_per_request"] + figures[side]["pings_per_request"])
            for side in SIDES}


def _line(run: Run) -> str:
    return (f"  {run.scenario:<8}{run.side:<8}{run.rps:>8} req/s  p50 {run.p50_ms:>7} ms  p99 {run.p99_ms:>8} ms  "
            f"cpu {run.cpu_ms_per_request:>6} ms/req  statements {run.statements_per_request}  pings "
            f"{run.pings_per_request}  commits {run.commits_per_request}  fsyncs {run.fsyncs_per_request}  "
            f"redis {run.redis_per_request}  others {run.others_cores} cores  {run.statuses}")


def _print(report: dict[str, Any], out: Path) -> None:
    print(f"{'':<10}{'':<8}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms/req':>12}{'statements':>12}"
          f"{'pings':>7}{'commits':>9}{'fsyncs':>8}{'redis':>7}   (medians of {report['workload']['runs']})")
    for scenario, part in (("fresh", report), ("repeats", report["repeats"])):
        for side in SIDES:
            f = part["figures"][side]
            print(f"{scenario:<10}{side:<8}{f['rps']:>8}{f['p50_ms']:>9}{f['p99_ms']:>9}{f['cpu_ms_per_request']:>12}"
                  f"{f['statements_per_request']!s:>12}{f['pings_per_request']!s:>7}{f['commits_per_request']!s:>9}"
                  f"{f['fsyncs_per_request']!s:>8}"
                  f"{f['redis_per_request']!s:>7}")
        unlocked = part["figures"]["without_lock"]
        print(f"{scenario:<10}course / plain: req/s {part['ratio']}, CPU per request "
              f"{part['figures']['cpu_per_request_ratio']}x;  without the Redis lock: req/s {unlocked['ratio']}, "
              f"CPU per request {unlocked['cpu_per_request_ratio']}x")
    if not report["quiet"]:
        print(f"other processes used up to {report['others_cores']} cores during a turn: the CPU and throughput "
              "figures are not comparable (the counts are); measure again on a quiet machine")
    print(f"-> {out}")
