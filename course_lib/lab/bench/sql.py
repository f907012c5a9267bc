"""`course bench sql`: the lesson's before/after query times at production-like size (1M orders).

Loads the seeded shop (same generator as notebook 06, 1,000,000 orders by default), then for each
case the median of 5 runs before and after its index or rewrite, and OFFSET against keyset at the
deepest page. Prints a table and writes build/bench/sql.json. The peer of each "after" is its own
"before" on the same data in the same run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from course_lib import backends
from course_lib.sqlperf import generate, pagination, queries


def main(orders: int = 1_000_000, repeat: int = 5, out: Path | None = None) -> dict:
    engine = backends.sql().engine
    start = time.perf_counter()
    with tqdm(total=orders, desc="loading orders", unit="order") as bar:
        generate.load(engine, n_orders=orders, n_users=max(1_000, orders // 10), progress=bar.update)
    load_s = time.perf_counter() - start
    cases = [queries.measure(engine, case, repeat) for case in queries.CASES]
    deepest = orders // 20 - 50  # a page of 20, near the end
    latency = pagination.depth_latency(engine, [0, deepest], repeat=repeat)
    report: dict[str, Any] = {
        "benchmark": "sql",
        "database": f"{backends.sql().server} {backends.sql().version}",
        "orders": orders, "repeat": repeat, "load_seconds": round(load_s, 1),
        "cases": {m.case.name: {"before_ms": round(m.before_ms, 3), "after_ms": round(m.after_ms, 3),
                                "speedup": round(m.speedup, 1), "before_plan": m.before.summary(),
                                "after_plan": m.after.summary()} for m in cases},
        "pagination": {"page": deepest, "offset_ms": round(latency["OFFSET"][-1], 3),
                       "keyset_ms": round(latency["keyset"][-1], 3),
                       "first_page_offset_ms": round(latency["OFFSET"][0], 3)},
    }
    out = out or backends.settings.current().build_dir / "bench" / "sql.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"{orders:,} orders on {report['database']} (loaded in {load_s:.0f} s); median of {repeat} runs")
    print(f"{'case':<40}{'before ms':>12}{'after ms':>12}{'speedup':>10}")
    for name, c in report["cases"].items():
        print(f"{name:<40}{c['before_ms']:>12.2f}{c['after_ms']:>12.2f}{c['speedup']:>9.1f}x")
    p = report["pagination"]
    print(f"{f'page {deepest:,}: OFFSET vs keyset':<40}{p['offset_ms']:>12.2f}{p['keyset_ms']:>12.2f}"
          f"{p['offset_ms'] / p['keyset_ms']:>9.1f}x   -> {out}")
    return report
