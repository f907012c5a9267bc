"""`course bench events`: our event store against the `eventsourcing` library, same work, same SQLite.

Work: one order stream of N item events, saved one event per save (the aggregate stays in memory,
as in both libraries' normal use); then rehydrating it in full, and from a snapshot taken every
100 events. Each side gets its own SQLite file in the same folder, both in WAL mode. The two sides
take turns (appends in chunks, loads one by one), so a noisy neighbour on a 2-core machine slows
both alike. Ratios are eventsourcing's time divided by ours: above 1 means ours is faster.
"""

from __future__ import annotations

import functools
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from tqdm import tqdm

from course_lib import backends
from course_lib.backends import sql_backend
from course_lib.events import EventStore, Order, OrderRepository

SNAPSHOT_EVERY = 100
CHUNK = 250  # appends per turn


class _Ours:
    def __init__(self, folder: Path) -> None:
        self.engine = sql_backend.connect(f"sqlite:///{folder / 'ours.sqlite'}").engine
        store = EventStore(self.engine)
        store.reset()
        self.plain, self.snapshotting = OrderRepository(store), OrderRepository(store, snapshot_every=SNAPSHOT_EVERY)
        self.order = self.plain.save(Order("o"), Order("o").create("alice"))

    def append(self, i: int) -> None:
        self.snapshotting.save(self.order, self.order.add_item(f"sku-{i % 50}", 1, 100))

    def full(self) -> dict:
        return self.plain.load("o", use_snapshot=False).lines

    def snapshot(self) -> dict:
        return self.snapshotting.load("o").lines


class _Theirs:
    def __init__(self, folder: Path) -> None:
        from eventsourcing.application import Application
        from eventsourcing.domain import Aggregate, event

        class EsOrder(Aggregate):
            @event("Created")
            def __init__(self, customer: str) -> None:
                self.customer, self.lines = customer, dict[str, tuple[int, int]]()

            @event("ItemAdded")
            def add_item(self, sku: str, quantity: int, unit_price: int) -> None:
                self.lines[sku] = (self.lines.get(sku, (0, unit_price))[0] + quantity, unit_price)

        class SnapshottingOrders(Application):
            snapshotting_intervals: ClassVar = {EsOrder: SNAPSHOT_EVERY}

        env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(folder / "theirs.sqlite")}
        self.app: Application = SnapshottingOrders(env=env)
        self.plain: Application = Application(env=env)  # plain: no snapshots
        self.order = EsOrder("alice")
        self.app.save(self.order)

    def append(self, i: int) -> None:
        self.order.add_item(f"sku-{i % 50}", 1, 100)
        self.app.save(self.order)

    def full(self) -> dict:
        return _tuples(self.plain.repository.get(self.order.id).lines)

    def snapshot(self) -> dict:
        return _tuples(self.app.repository.get(self.order.id).lines)


def _tuples(lines: dict) -> dict:  # snapshots come back through JSON: tuples become lists
    return {sku: tuple(v) for sku, v in lines.items()}


def _append_all(side: Any, numbers: range) -> None:
    for i in numbers:
        side.append(i)


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(events: int = 10_000, repeat: int = 31, out: Path | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="course-bench-events-") as tmp:
        sides: dict[str, Any] = {"ours": _Ours(Path(tmp)), "eventsourcing": _Theirs(Path(tmp))}
        append_s = dict.fromkeys(sides, 0.0)
        for start in tqdm(range(0, events, CHUNK), desc="appending, taking turns", leave=False):
            chunk = range(start, min(events, start + CHUNK))
            for name, side in sides.items():
                append_s[name] += _timed(functools.partial(_append_all, side, chunk))
        assert sides["ours"].full() == sides["ours"].snapshot() == _tuples(sides["eventsourcing"].full())
        loads: dict[str, dict[str, list[float]]] = {n: {"full": [], "snapshot": []} for n in sides}
        for _ in range(repeat):
            for kind in ("full", "snapshot"):
                for name, side in sides.items():
                    loads[name][kind].append(_timed(getattr(side, kind)) * 1000)
        sides["ours"].engine.dispose()
    figures = {name: {"append_per_s": round(events / append_s[name], 1),
                      "rehydrate_full_ms": round(statistics.median(loads[name]["full"]), 3),
                      "rehydrate_snapshot_ms": round(statistics.median(loads[name]["snapshot"]), 3)}
               for name in sides}
    ours, theirs = figures["ours"], figures["eventsourcing"]
    report: dict[str, Any] = {
        "benchmark": "events",
        "workload": {"events": events, "snapshot_every": SNAPSHOT_EVERY, "repeat": repeat, "database": "SQLite (WAL)"},
        "figures": figures,
        "ratios": {
            "append": round(ours["append_per_s"] / theirs["append_per_s"], 3),
            "rehydrate_full": round(theirs["rehydrate_full_ms"] / ours["rehydrate_full_ms"], 3),
            "rehydrate_snapshot": round(theirs["rehydrate_snapshot_ms"] / ours["rehydrate_snapshot_ms"], 3),
        },
    }
    out = out or backends.settings.current().build_dir / "bench" / "events.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"{'':<16}{'appends/s':>12}{'full replay ms':>16}{'snapshot ms':>13}")
    for name, f in figures.items():
        print(f"{name:<16}{f['append_per_s']:>12.0f}{f['rehydrate_full_ms']:>16.1f}{f['rehydrate_snapshot_ms']:>13.3f}")
    print(f"ratios (eventsourcing time / ours): {report['ratios']}  -> {out}")
    return report
