"""The `course` command: `doctor`, `lab`, `run`, `slides`, `serve` and `bench`.

    course doctor   which backends are in use, their versions, and how to fix what is missing
    course lab      JupyterLab on notebooks/ (no browser on a headless machine; works as root)
    course run      execute every notebook headless into build/executed/ with a time table
    course serve    the course API (tokens, create-order, uploads) in the foreground
    course slides   one offline reveal.js deck per notebook under build/slides/
    course bench    side-by-side benchmarks; exits 1 if ours duplicated or lost work
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from course_lib import backends
from course_lib.backends import settings
from course_lib.lab.notebook import summary_line

# A cell that takes longer than this is stuck: every lesson cell is meant to take seconds.
DEFAULT_CELL_TIMEOUT_S = 120


def _notebooks_dir(given: str | None) -> Path:
    if given:
        return Path(given)
    if Path("notebooks").is_dir():
        return Path("notebooks")
    root = settings.checkout_root()
    if root and (root / "notebooks").is_dir():
        return root / "notebooks"
    raise SystemExit("course: no notebooks/ folder here; run from the course's clone or pass --notebooks DIR")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def doctor(_args: argparse.Namespace) -> int:
    """Print the backend table; exit 0 when every backend is usable, 1 otherwise."""
    rows = backends.describe()
    print(_table(["backend", "in use", "server", "version", "url"],
                 [[r.backend, r.mode, r.server, r.version, r.url] for r in rows]))
    print()
    for r in rows:
        if not r.ok:
            print(f"problem: {r.note}", file=sys.stderr)
        elif r.mode == "embedded":
            print(f"{r.backend}: {r.note}")
    if all(r.ok for r in rows):
        print(summary_line(rows))
        return 0
    return 1


def _headless() -> bool:
    return sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def lab(args: argparse.Namespace) -> int:
    """Start JupyterLab on notebooks/, on loopback only."""
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={_notebooks_dir(args.notebooks).resolve()}",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={args.port}"]
    if args.no_browser or _headless():
        cmd.append("--no-browser")
        print("No browser here: open the http://127.0.0.1:... URL with the token that JupyterLab prints below.",
              flush=True)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # JupyterLab refuses to start as root without it (containers, CI)
    # Become JupyterLab (same PID): Ctrl-C and a supervisor's SIGTERM reach the server itself,
    # and no orphaned server is left holding the port when `course` is stopped.
    os.execv(sys.executable, cmd)
    return 0  # not reached


def run(args: argparse.Namespace) -> int:
    """Execute notebooks headless into build/executed/; print a time table; exit 1 on any failure."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError
    from tqdm import tqdm

    folder = _notebooks_dir(args.notebooks)
    paths = [Path(p) for p in args.paths] if args.paths else sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        print(f"course run: no notebooks found in {folder}", file=sys.stderr)
        return 1
    out_dir = settings.current().build_dir / "executed"
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, failures = [], []
    for path in tqdm(paths, desc="notebooks", unit="nb"):
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=args.timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent.resolve())}})
        start = time.perf_counter()
        status = "ok"
        try:
            client.execute()
        except (CellExecutionError, CellTimeoutError) as exc:
            status = "FAILED"
            failures.append((path.name, str(exc).strip().splitlines()[-1:]))
        elapsed = time.perf_counter() - start
        nbformat.write(nb, out_dir / path.name)
        rows.append([path.name, status, f"{elapsed:.1f}"])
    print(_table(["notebook", "status", "seconds"], rows))
    print(f"\nexecuted copies in {out_dir}")
    for name, last in failures:
        print(f"{name} failed: {' '.join(last)}", file=sys.stderr)
    return 1 if failures else 0


def slides(args: argparse.Namespace) -> int:
    """Build one offline reveal.js deck per notebook under build/slides/ (or annotate the notebooks)."""
    import nbformat

    from course_lib.lab import slides as decks

    folder = _notebooks_dir(args.notebooks)
    paths = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if args.annotate:
        from course_lib.lab import diagrams

        for path in [*paths, *folder.glob("_template.ipynb")]:
            nbformat.write(decks.annotate(nbformat.read(path, as_version=4)), path)
        drawn = diagrams.write(folder / "figures")
        print(f"slide metadata written into {len(paths)} notebooks (and the template); {len(drawn)} diagrams drawn "
              f"into {folder / 'figures'}")
        return 0
    build_dir = settings.current().build_dir
    built = decks.build(paths, build_dir / "slides", build_dir / "executed")
    print("\n".join(str(p) for p in built))
    print(f"{len(built)} decks; open one in a browser, press 's' for the speaker notes (works offline)")
    return 0


def serve(args: argparse.Namespace) -> int:
    """Run the course API in the foreground (Ctrl-C stops it)."""
    from datetime import timedelta

    from course_lib.api import ApiConfig
    from course_lib.api import serve as serve_api

    try:
        config = ApiConfig(claim_lease=timedelta(milliseconds=args.claim_lease_ms),
                           lock_lease_ms=args.lock_lease_ms, fault_injection=args.faults,
                           redis_lock=not args.no_lock)
    except ValueError as exc:
        print(f"course serve: {exc}", file=sys.stderr)
        return 2
    serve_api(args.host, args.port, config, fresh=args.fresh, plain=args.plain)
    return 0


def hub(args: argparse.Namespace) -> int:
    """Run the workshop hub (JupyterHub, one machine) in the foreground until Ctrl+C."""
    from course_lib.hub import config
    from course_lib.hub.process import Hub
    from course_lib.hub.provision import exposed_admins

    options = config.Options.from_environment()
    for warning in exposed_admins(options.database_url, options.redis_url):
        print(f"WARNING: {warning}", file=sys.stderr)
    try:
        running = Hub(Path(args.state) if args.state else options.state, port=args.port, ip=args.ip,
                      instructors=tuple(args.instructors.split(",")), idle_timeout_s=args.idle_timeout)
    except RuntimeError as exc:
        print(f"course hub: {exc}", file=sys.stderr)
        return 2
    shown = f"http://<this machine's address>:{running.port}" if args.ip == "0.0.0.0" else running.url
    print(f"The hub answers on {shown} (log: {running.log_path}).\nInstructors ({args.instructors}) log in first "
          "and choose their passwords; then each learner picks a name and a password. Ctrl+C stops the hub and "
          "every learner's server.", flush=True)
    try:
        running.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
    return 0


def bench(args: argparse.Namespace) -> int:
    """Run a side-by-side benchmark and write its results under build/bench/."""
    from course_lib.lab.bench import events, guards, idempotency, jitter, orders, s3, sql

    if args.name == "hub":
        from course_lib.lab.bench import hub as hub_bench

        return 0 if hub_bench.main(learners=args.learners)["figures"]["failed_cells"] == 0 else 1
    if args.name == "s3":
        s3.main(**({"repeat": args.repeat} if args.repeat else {}))
        return 0
    if args.name == "sql":
        sql.main(orders=args.orders)
        return 0
    if args.name == "orders":
        figures = orders.main(requests=args.requests, clients=args.clients, crash_share=args.crash_share)["figures"]
        return 0 if figures["duplicate_orders"] == 0 and figures["lost_orders"] == 0 else 1
    if args.name == "guards":
        guards.main(clients=args.clients, **({"seconds": args.seconds} if args.seconds else {}),
                    **({"runs": args.repeat} if args.repeat else {}))
        return 0
    if args.name == "jitter":
        jitter.main(runs=args.runs)
        return 0
    if args.name == "events":
        events.main(events=args.events)
        return 0
    report = idempotency.main(requests=args.requests, clients=args.clients, crash_share=args.crash_share,
                              **({"repeat": args.repeat} if args.repeat else {}))
    return 0 if idempotency.held(report, "ours") else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course", description="Backend Reliability Lab")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="show which backends are in use and how to fix missing ones").set_defaults(fn=doctor)
    p_lab = sub.add_parser("lab", help="open JupyterLab on notebooks/")
    p_lab.add_argument("--port", type=int, default=8888)
    p_lab.add_argument("--no-browser", action="store_true")
    p_lab.add_argument("--notebooks", help="folder to open (default: notebooks/)")
    p_lab.set_defaults(fn=lab)
    p_run = sub.add_parser("run", help="execute notebooks headless into build/executed/")
    p_run.add_argument("paths", nargs="*", help="notebooks to run (default: all in notebooks/)")
    p_run.add_argument("--notebooks", help="folder of notebooks (default: notebooks/)")
    p_run.add_argument("--timeout", type=int, default=DEFAULT_CELL_TIMEOUT_S, help="seconds per cell")
    p_run.set_defaults(fn=run)
    p_slides = sub.add_parser("slides", help="one offline reveal.js deck per notebook under build/slides/")
    p_slides.add_argument("--notebooks", help="folder of notebooks (default: notebooks/)")
    p_slides.add_argument("--annotate", action="store_true",
                          help="write slide metadata and section times into the notebooks instead")
    p_slides.set_defaults(fn=slides)
    p_serve = sub.add_parser("serve", help="run the course API (tokens, create-order) in the foreground")
    p_serve.add_argument("--host", default="127.0.0.1")
    p_serve.add_argument("--port", type=int, default=8000)
    p_serve.add_argument("--fresh", action="store_true", help="drop the API's tables and seed the demo accounts")
    p_serve.add_argument("--faults", action="store_true",
                         help="honour the X-Course-Fault header (benchmarks only: lets a client crash a worker)")
    p_serve.add_argument("--plain", action="store_true",
                         help="serve the baseline create-order of `course bench guards` instead of the course API")
    p_serve.add_argument("--claim-lease-ms", type=int, default=30_000, help="idempotency claim lease")
    p_serve.add_argument("--lock-lease-ms", type=int, default=10_000, help="Redis lock lease (< claim lease)")
    p_serve.add_argument("--no-lock", action="store_true",
                         help="create-order without its Redis lock (the claim alone guards; `course bench guards`)")
    p_serve.set_defaults(fn=serve)
    p_hub = sub.add_parser("hub", help="the workshop hub: JupyterHub with a database and Redis user per learner")
    p_hub.add_argument("--ip", default="127.0.0.1", help="0.0.0.0 lets a room's laptops in (default: this machine)")
    p_hub.add_argument("--port", type=int, default=8000)
    p_hub.add_argument("--state", help="the hub's database, cookie secret and password hashes "
                                      "(default: build/hub/state)")
    p_hub.add_argument("--instructors", default="instructor", help="comma-separated admin names")
    p_hub.add_argument("--idle-timeout", type=int, default=3600, help="seconds before an idle server is stopped")
    p_hub.set_defaults(fn=hub)
    p_bench = sub.add_parser("bench", help="side-by-side benchmarks (ours vs a named peer)")
    p_bench.add_argument("name", choices=["idempotency", "jitter", "events", "orders", "guards", "sql", "s3", "hub"])
    p_bench.add_argument("--learners", type=int, default=10, help="hub: simulated learners at once")
    p_bench.add_argument("--orders", type=int, default=1_000_000, help="sql: orders to load")
    p_bench.add_argument("--events", type=int, default=10_000, help="events: stream length")
    p_bench.add_argument("--runs", type=int, default=100, help="jitter: runs per setting")
    p_bench.add_argument("--requests", type=int, default=10_000, help="idempotency, orders: requests per run")
    p_bench.add_argument("--clients", type=int, default=64, help="idempotency, orders, guards: concurrent clients")
    p_bench.add_argument("--seconds", type=float, default=None, help="guards: seconds per measured run (default 20)")
    p_bench.add_argument("--crash-share", type=float, default=0.01, help="share of requests that crash after the work")
    p_bench.add_argument("--repeat", type=int, default=None,
                         help="idempotency (default 3), s3 (default 5): runs per side; throughput is the median")
    p_bench.set_defaults(fn=bench)
    args = parser.parse_args(argv)
    try:
        return args.fn(args)
    except backends.BackendUnavailable as exc:  # a clear message, never a traceback
        print(f"course: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
