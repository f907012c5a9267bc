"""`course bench events`: our event store against the `eventsourcing` library, same work, same SQLite.

Work: one order stream of N item events, saved one event per save (the aggregate stays in memory,
as in both libraries' normal use); then rehydrating it in full, and from a snapshot taken every
100 events. Each side gets its own SQLite file in the same folder, both in WAL mode. Ratios are
eventsourcing's time divided by ours for the same work: above 1 means ours is faster. Times are
medians of `repeat` loads.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from .. import backends
from ..backends import sql_backend
from ..events import EventStore, Order, OrderRepository

SNAPSHOT_EVERY = 100


def _median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _ours(folder: Path, events: int, repeat: int) -> dict[str, float]:
    engine = sql_backend.connect(f"sqlite:///{folder / 'ours.sqlite'}").engine
    store = EventStore(engine)
    store.reset()
    plain, snapshotting = OrderRepository(store), OrderRepository(store, snapshot_every=SNAPSHOT_EVERY)
    order = plain.save(Order("o"), Order("o").create("alice"))
    start = time.perf_counter()
    for i in tqdm(range(events), desc="ours: append", leave=False):
        snapshotting.save(order, order.add_item(f"sku-{i % 50}", 1, 100))
    append_s = time.perf_counter() - start
    assert plain.load("o", use_snapshot=False) == snapshotting.load("o") == order
    result = {"append_per_s": events / append_s,
              "rehydrate_full_ms": _median_ms(lambda: plain.load("o", use_snapshot=False), repeat),
              "rehydrate_snapshot_ms": _median_ms(lambda: snapshotting.load("o"), repeat)}
    engine.dispose()
    return result


def _theirs(folder: Path, events: int, repeat: int) -> dict[str, float]:
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event

    class EsOrder(Aggregate):
        @event("Created")
        def __init__(self, customer: str) -> None:
            self.customer, self.lines = customer, {}

        @event("ItemAdded")
        def add_item(self, sku: str, quantity: int, unit_price: int) -> None:
            held = self.lines.get(sku, (0, unit_price))[0]
            self.lines[sku] = (held + quantity, unit_price)

    class Orders(Application):
        pass

    class SnapshottingOrders(Application):
        snapshotting_intervals = {EsOrder: SNAPSHOT_EVERY}

    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(folder / "theirs.sqlite")}
    app = SnapshottingOrders(env=env)
    order = EsOrder("alice")
    app.save(order)
    start = time.perf_counter()
    for i in tqdm(range(events), desc="eventsourcing: append", leave=False):
        order.add_item(f"sku-{i % 50}", 1, 100)
        app.save(order)
    append_s = time.perf_counter() - start
    plain = Orders(env=env)  # same database, no snapshots: full replay
    def lines(aggregate: EsOrder) -> dict:  # snapshots come back through JSON: tuples become lists
        return {sku: tuple(v) for sku, v in aggregate.lines.items()}

    assert lines(plain.repository.get(order.id)) == lines(app.repository.get(order.id)) == lines(order)
    return {"append_per_s": events / append_s,
            "rehydrate_full_ms": _median_ms(lambda: plain.repository.get(order.id), repeat),
            "rehydrate_snapshot_ms": _median_ms(lambda: app.repository.get(order.id), repeat)}


def main(events: int = 10_000, repeat: int = 31, out: Path | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="course-bench-events-") as tmp:
        ours, theirs = _ours(Path(tmp), events, repeat), _theirs(Path(tmp), events, repeat)
    report = {
        "benchmark": "events",
        "workload": {"events": events, "snapshot_every": SNAPSHOT_EVERY, "repeat": repeat, "database": "SQLite (WAL)"},
        "figures": {"ours": {k: round(v, 2) for k, v in ours.items()},
                    "eventsourcing": {k: round(v, 2) for k, v in theirs.items()}},
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
    for name, f in (("ours", ours), ("eventsourcing", theirs)):
        print(f"{name:<16}{f['append_per_s']:>12.0f}{f['rehydrate_full_ms']:>16.1f}{f['rehydrate_snapshot_ms']:>13.2f}")
    print(f"ratios (eventsourcing time / ours): {report['ratios']}  -> {out}")
    return report
