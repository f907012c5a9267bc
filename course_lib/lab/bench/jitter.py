"""`course bench jitter`: the full backoff sweep, written as the original simulator's CSV.

10 to 190 clients in steps of 10, the five strategies, 100 runs each; `build/bench/jitter.csv` has
exactly the columns and labels of aws-samples/aws-arch-backoff-simulator (`clients,time,calls,Algorithm`),
so the two can be compared line by line; `build/bench/jitter.json` records the sweep's wall time.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from course_lib.backends import settings
from course_lib.retries import simulator

COLUMNS = ["clients", "time", "calls", "Algorithm"]


def main(runs: int = 100, seed: int = 0, out_dir: Path | None = None) -> dict:
    rows, wall_s = simulator.sweep(runs=runs, seed=seed)
    out_dir = out_dir or settings.current().build_dir / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "jitter.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    report = {"benchmark": "jitter", "sweep_wall_s": round(wall_s, 2), "runs": runs, "seed": seed,
              "settings": len(rows), "cores": os.cpu_count(), "csv": str(out_dir / "jitter.csv")}
    (out_dir / "jitter.json").write_text(json.dumps(report, indent=2))
    at = {(r["clients"], r["Algorithm"]): r["calls"] for r in rows}
    print("write calls per run (mean of", runs, "runs):")
    print(f"{'clients':>8}" + "".join(f"{s:>13}" for s in simulator.STRATEGIES))
    for n in (10, 50, 100, 150, 190):
        print(f"{n:>8}" + "".join(f"{at[(n, s)]:>13}" for s in simulator.STRATEGIES))
    print(f"sweep: {len(rows)} settings in {wall_s:.1f} s on {os.cpu_count()} cores -> {report['csv']}")
    return report
