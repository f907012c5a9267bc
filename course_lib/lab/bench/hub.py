"""`course bench hub`: a room on one machine. N learners log in through the hub's login form, their servers
start, and each runs notebooks 00 and 01 in their own kernel, all at once; beside it, one learner alone.

It reports failed cells (the claim: 0), each notebook's time alone and at N (median and slowest), the
spawn times, memory per learner (the peak resident memory of every process under their account: the
Jupyter server and the kernel), and the load on the shared services per learner (SQL statements, Redis
commands, peak connections), the inputs of docs/workshop.md's capacity plan. Writes build/bench/hub.json.
Needs root, `make hub-setup` and the services, and nothing else running.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import redis
import sqlalchemy as sa
from tqdm import tqdm

from course_lib.backends import settings
from course_lib.hub import config, remote
from course_lib.hub.api import HubClient
from course_lib.hub.process import Hub

NOTEBOOKS = ("notebooks/00_start_here.ipynb", "notebooks/01_idempotency_keys.ipynb")
SAMPLE_S = 0.5


class ServiceLoad:
    """What the room asked of the shared MariaDB and Redis: statement and command counts between two
    readings (server-wide: nothing else may run meanwhile), and the peak of open connections (sampled)."""

    def __init__(self) -> None:
        self.engine = sa.create_engine(config.Options.database_url)
        self.redis = redis.Redis.from_url(config.Options.redis_url)
        self.peak_db_connections = self.peak_redis_clients = 0

    def counters(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            questions = int(conn.exec_driver_sql("SHOW GLOBAL STATUS LIKE 'Questions'").one()[1])
        return {"statements": questions, "redis_commands": int(self.redis.info("stats")["total_commands_processed"])}

    def sample(self) -> None:
        with self.engine.connect() as conn:
            connected = int(conn.exec_driver_sql("SHOW GLOBAL STATUS LIKE 'Threads_connected'").one()[1])
        self.peak_db_connections = max(self.peak_db_connections, connected)
        self.peak_redis_clients = max(self.peak_redis_clients, int(self.redis.info("clients")["connected_clients"]))

    def close(self) -> None:
        self.engine.dispose()
        self.redis.close()


class MemorySampler:
    """The peak, per account, of the summed resident memory of that account's processes (and the services')."""

    def __init__(self, users: list[str], services: ServiceLoad) -> None:
        self.users, self.services = set(users), services
        self.peak_mb: defaultdict[str, float] = defaultdict(float)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            now: dict[str, float] = defaultdict(float)
            for process in psutil.process_iter(["username", "memory_info"]):
                if process.info["username"] in self.users and process.info["memory_info"]:
                    now[process.info["username"]] += process.info["memory_info"].rss / 2**20
            for user, mb in now.items():
                self.peak_mb[user] = max(self.peak_mb[user], mb)
            self.services.sample()

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return dict(self.peak_mb)


async def _learner(client: HubClient, url: str) -> list[remote.NotebookRun]:
    return [await remote.run_notebook(url, client.token, path) for path in NOTEBOOKS]


def main(learners: int = 10, out: Path | None = None) -> dict[str, Any]:
    names = [f"learner{i:02d}" for i in range(1, learners + 1)]
    token = secrets.token_hex(32)
    state = Path(tempfile.mkdtemp(prefix="course-hub-bench-"))
    hub = Hub(state, service_token=token)
    client = HubClient(hub.url, token)
    try:
        spawn_s: dict[str, float] = {}
        urls: dict[str, str] = {}
        for name in tqdm(names, desc="log in and start", unit="learner"):
            started = time.perf_counter()
            client.login(name, f"{name}-password").close()
            urls[name] = client.start(name)
            spawn_s[name] = round(time.perf_counter() - started, 2)
        alone = asyncio.run(_learner(client, urls[names[0]]))
        print("alone:", ", ".join(f"{Path(r.path).stem} {r.seconds} s" for r in alone), flush=True)
        load = ServiceLoad()
        sampler, before = MemorySampler(names, load), load.counters()
        started = time.perf_counter()

        async def room() -> list[list[remote.NotebookRun]]:
            return await asyncio.gather(*(_learner(client, urls[name]) for name in names))

        together = asyncio.run(room())
        wall_s = round(time.perf_counter() - started, 1)
        memory, after = sampler.stop(), load.counters()
        per_learner = {name: round((after[name] - before[name]) / learners) for name in after}
        services = {"statements_per_learner": per_learner["statements"],
                    "redis_commands_per_learner": per_learner["redis_commands"],
                    "peak_db_connections": load.peak_db_connections, "peak_redis_clients": load.peak_redis_clients}
        load.close()
    finally:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(client.stop, names))
        client.close()
        hub.stop()
        config.remove_learners(names)
    report = _report(names, alone, together, wall_s, spawn_s, memory)
    report["figures"]["services"] = services | {
        "statements_per_learner_per_s": round(services["statements_per_learner"] / wall_s, 1),
        "redis_commands_per_learner_per_s": round(services["redis_commands_per_learner"] / wall_s, 1)}
    out = out or settings.current().build_dir / "bench" / "hub.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    _print(report, out)
    return report


def _report(names: list[str], alone: list[remote.NotebookRun], together: list[list[remote.NotebookRun]],
            wall_s: float, spawn_s: dict[str, float], memory: dict[str, float]) -> dict[str, Any]:
    notebooks = {}
    for i, path in enumerate(NOTEBOOKS):
        times = [runs[i].seconds for runs in together if len(runs) > i]
        notebooks[Path(path).stem] = {"alone_s": alone[i].seconds,
                                      "together_median_s": round(statistics.median(times), 2),
                                      "together_max_s": max(times),
                                      "slowdown": round(statistics.median(times) / alone[i].seconds, 2)}
    failures = [f"{name} {run.path} {failure}" for name, runs in zip(names, together, strict=True) for run in runs
                for failure in run.failed] + [f"alone {run.path} {f}" for run in alone for f in run.failed]
    return {"benchmark": "hub", "machine": {"cores": psutil.cpu_count(), "memory_gb": round(
                psutil.virtual_memory().total / 2**30, 1)},
            "figures": {"learners": len(names), "failed_cells": len(failures), "wall_s": wall_s,
                        "notebooks": notebooks, "spawn_median_s": statistics.median(spawn_s.values()),
                        "memory_per_learner_mb": round(statistics.median(memory.values()), 1) if memory else None,
                        "memory_per_learner_max_mb": round(max(memory.values()), 1) if memory else None,
                        "cells_run": sum(run.cells for runs in together for run in runs)},
            "failures": failures, "spawn_s": spawn_s, "memory_mb": memory}


def _print(report: dict[str, Any], out: Path) -> None:
    f = report["figures"]
    print(f"{f['learners']} learners at once: {f['cells_run']} cells, {f['failed_cells']} failed, {f['wall_s']} s")
    for name, n in f["notebooks"].items():
        print(f"  {name:<22} alone {n['alone_s']:>6} s   at {f['learners']}: median {n['together_median_s']:>6} s, "
              f"slowest {n['together_max_s']:>6} s  ({n['slowdown']}x)")
    print(f"  memory per learner (server + kernel, peak): median {f['memory_per_learner_mb']} MB, "
          f"max {f['memory_per_learner_max_mb']} MB;  spawn median {f['spawn_median_s']} s")
    load = f["services"]
    print(f"  per learner: {load['statements_per_learner']} SQL statements ({load['statements_per_learner_per_s']}/s), "
          f"{load['redis_commands_per_learner']} Redis commands ({load['redis_commands_per_learner_per_s']}/s); "
          f"peak {load['peak_db_connections']} MariaDB connections, {load['peak_redis_clients']} Redis clients")
    for failure in report["failures"]:
        print(f"  FAILED {failure}")
    print(f"-> {out}")
