"""The interview drill's content: a self-introduction, two model answers built from the learner's own
measurements, the pitfalls checklist, three worked trade-offs and a Vietnamese glossary.

The answers quote build/results/ (saved by notebooks 01 and 06). When a notebook has not run on this
machine, `idempotency_figures()` and `sql_figures()` run a small version of its measurement instead,
and say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from course_lib import backends
from course_lib.lab import results

SELF_INTRO = """\
(30-45 seconds; about 90-110 words at a calm pace)
Hi, I'm {name}. I'm a backend engineer with {years} years of experience, mostly {stack}.
Recently I {recent_work}, and the part I'm proudest of is {proud_of}.
I care about reliability: for example, {reliability_example}.
I'm looking for {looking_for}, and this role interests me because {why_this_role}."""

# An example, not a template to recite: its figures are the ones *you* measured in notebooks 01 and 06
# (`intro_example()` fills them in), and it says "in a lab I built", never work the speaker did not ship.
INTRO_EXAMPLE = {
    "name": "Linh", "years": "five", "stack": "Python and PHP services on MySQL and Redis",
    "recent_work": "built a lab that makes an order API's failure modes happen on a real MySQL and Redis",
    "proud_of": "measuring the fix: in that lab, {stress_requests} concurrent requests over {stress_keys} keys "
                "made {seed_extra_charges} duplicate charges with check-then-write and none with claim-first",
    "reliability_example": "in the same lab, keyset pagination answered page {deepest_page} in {keyset_ms} ms "
                           "where OFFSET took {offset_ms} ms",
    "looking_for": "a team that runs high-traffic systems", "why_this_role": "you own payments end to end",
}


def intro_example(idempotency: dict[str, Any], sql: dict[str, Any]) -> dict[str, str]:
    """INTRO_EXAMPLE with the learner's own figures (from `idempotency_figures()` and `sql_figures()`)."""
    page = sql["pagination"]
    numbers = {**idempotency, "deepest_page": f"{page['deepest page']:,}", "keyset_ms": page["keyset ms"],
               "offset_ms": page["offset ms"]}
    return {k: v.format(**numbers) for k, v in INTRO_EXAMPLE.items()}


@dataclass(frozen=True)
class Figures:
    values: dict[str, Any]
    source: str  # where the numbers come from: a saved result, or measured just now


def idempotency_figures() -> Figures:
    saved = results.load("idempotency")
    if saved:
        return Figures(saved, f"saved by notebook 01 ({results.path('idempotency')})")
    from course_lib.idempotency import IdempotencyStore, create_charge, reset, seed_create_charge
    from course_lib.idempotency.seed import SEED_HEADER
    from course_lib.lab.scenarios.idempotency import charge_request, concurrent_retries, stress

    engine = backends.sql().engine
    reset(engine)
    seed = lambda req: seed_create_charge(engine, req)  # noqa: E731
    lockstep = concurrent_retries(engine, seed, charge_request(key="drill-1", header=SEED_HEADER), callers=4,
                                  schedule="round_robin")
    reset(engine)
    naive = stress(engine, seed, keys=8, copies=8, header=SEED_HEADER)
    reset(engine)
    store = IdempotencyStore(engine)
    fixed = stress(engine, lambda req: create_charge(store, req), keys=8, copies=8)
    values = {"database": f"{backends.sql().server} {backends.sql().version}", "lockstep_retries": 4,
              "lockstep_charges": lockstep.executions, "stress_requests": 64, "stress_keys": 8,
              "seed_extra_charges": sum(naive.executions_per_key.values()) - 8,
              "seed_duplicated_keys": naive.duplicated_keys,
              "claim_first_max_charges_per_key": max(fixed.executions_per_key.values())}
    return Figures(values, "measured just now (notebook 01 has not run here): 64 requests over 8 keys")


def sql_figures() -> Figures:
    saved = results.load("sql_performance")
    if saved:
        return Figures(saved, f"saved by notebook 06 ({results.path('sql_performance')})")
    from course_lib.sqlperf import generate, pagination, queries

    engine = backends.sql().engine
    orders = 20_000
    generate.load(engine, n_orders=orders, n_users=2_000)
    measured = [queries.measure(engine, case, repeat=3) for case in queries.CASES]
    depth = orders // 20 - 50
    latency = pagination.depth_latency(engine, [0, depth], repeat=3)
    values = {"orders": orders, "database": f"{backends.sql().server} {backends.sql().version}",
              "cases": {m.case.name: {"before ms": round(m.before_ms, 2), "after ms": round(m.after_ms, 2)}
                        for m in measured},
              "pagination": {"deepest page": depth, "offset ms": round(latency["OFFSET"][-1], 2),
                             "keyset ms": round(latency["keyset"][-1], 2)}}
    return Figures(values, f"measured just now on {orders:,} orders (notebook 06 has not run here)")


def idempotency_answer(f: dict[str, Any]) -> str:
    """'How do you ensure idempotency for mutations?', with the learner's numbers."""
    return (
        "  'Every mutation takes an Idempotency-Key from the client, scoped to the user. Before doing any work the\n"
        "  server claims the key with an insert that a unique index lets only one request win, storing a fingerprint\n"
        "  of the request and a lease. The work and the stored response commit together, so a retry gets the same\n"
        "  response with 200; a retry while the first is running gets 409 with Retry-After; the same key with a\n"
        "  different body gets 422. I measured why the common check-then-write design is not enough: "
        f"{f['lockstep_retries']} concurrent\n"
        f"  retries charged {f['lockstep_charges']} times, and {f['stress_requests']} requests over {f['stress_keys']} "
        f"keys made {f['seed_extra_charges']} duplicate charges on\n"
        f"  {f['seed_duplicated_keys']} keys. With claim-first it was at most {f['claim_first_max_charges_per_key']} "
        "charge per key, including crashes\n"
        "  taken over after the lease. A Redis lock in front can save work, but the unique constraint is the\n"
        "  guarantee.'")


PITFALLS = [  # (the pitfall, the notebook that makes it happen)
    ("Check-then-act on an idempotency key: concurrent retries all pass the check", "01_idempotency_keys.ipynb"),
    ("Trusting a distributed lock for correctness: a paused holder writes after its lease",
     "02_create_order_case_study.ipynb"),
    ("Retrying without jitter: synchronised retry waves (thundering herd)", "03_retries_backoff_jitter.ipynb"),
    ("Retrying a non-idempotent request without a key", "03_retries_backoff_jitter.ipynb"),
    ("Replaying a long event stream on every load (no snapshots)", "04_event_sourcing.ipynb"),
    ("Projections that skip events committed out of order", "04_event_sourcing.ipynb"),
    ("Uploading large files through your servers; never aborting incomplete uploads", "05_s3_multipart_upload.ipynb"),
    ("SELECT * defeating a covering index", "06_sql_performance.ipynb"),
    ("OFFSET pagination and a non-unique ORDER BY", "06_sql_performance.ipynb"),
    ("Long transactions holding row locks across network calls", "06_sql_performance.ipynb"),
    ("Storing tokens in plain text; comparing secrets with ==; tokens in logs", "07_api_tokens.ipynb"),
    ("Optimistic UI that restores the whole snapshot on error, or refetches after every edit",
     "08_optimistic_ui.ipynb"),
]

TRADE_OFFS = [
    ("Claim-first key store vs a lock-first design",
     "Defend: the unique index makes 'exactly once' a property of the database, not of timing; it survives a "
     "Redis restart and a paused worker.",
     "Cost: a write per request before the work, and a lease to tune (too short: takeovers; too long: slow recovery).",
     "Choose the lock in front as well when duplicates are frequent and the work is expensive: it saves work, "
     "never replaces the constraint."),
    ("Event sourcing for orders",
     "Defend: a complete history, time travel for audits and support, new read models by replaying.",
     "Cost: more moving parts (snapshots, projections, upcasters), eventual consistency for reads, harder "
     "schema changes.",
     "Choose CRUD when nobody needs the history; event sourcing when the history is the product."),
    ("Full jitter vs predictable retry latency",
     "Defend: spreading retries removes the herd; fewer total calls and the fleet recovers sooner.",
     "Cost: an individual request's retry delay is random, so its tail latency is less predictable.",
     "Cap the delay, set a deadline and a retry budget; for interactive paths retry once, quickly."),
]

GLOSSARY = [  # (term, Vietnamese, what it means here)
    ("idempotency key", "khóa idempotency (khóa chống thực hiện trùng)",
     "a client-chosen id that makes a retry safe"),
    ("race condition", "tình trạng tranh chấp (race condition)",
     "the result depends on the timing of concurrent steps"),
    ("retry", "thử lại", "sending a failed request again"),
    ("exponential backoff", "lùi thời gian theo cấp số nhân", "waiting twice as long after each failure"),
    ("jitter", "độ lệch ngẫu nhiên (jitter)", "randomness added to delays so clients do not retry together"),
    ("thundering herd", "hiệu ứng bầy đàn (thundering herd)", "many clients hitting a server at the same moment"),
    ("lock / lease", "khóa / thời hạn giữ khóa (lease)", "exclusive access that expires by itself"),
    ("fencing token", "mã rào chắn (fencing token)",
     "an increasing number the resource uses to refuse stale holders"),
    ("event sourcing", "lưu trữ theo sự kiện (event sourcing)",
     "storing every change as an event and rebuilding state"),
    ("snapshot", "ảnh chụp trạng thái (snapshot)", "saved state at a version, to avoid replaying everything"),
    ("projection / read model", "mô hình đọc (projection)", "a table built from events for fast queries"),
    ("optimistic concurrency", "kiểm soát đồng thời lạc quan", "detect conflicting writes instead of locking"),
    ("presigned URL", "URL ký sẵn (presigned URL)", "a time-limited URL that grants one operation"),
    ("multipart upload", "tải lên nhiều phần (multipart upload)", "sending a large file as separate parts"),
    ("covering index", "chỉ mục bao phủ (covering index)", "an index holding every column a query needs"),
    ("keyset pagination", "phân trang theo khóa (keyset pagination)",
     "continuing after the last row seen, not OFFSET"),
    ("partition", "phân vùng (partition)", "splitting a table by a column such as created_at"),
    ("transaction", "giao dịch (transaction)", "a group of writes that commit or roll back together"),
    ("optimistic update", "cập nhật lạc quan (optimistic update)", "showing the change before the server confirms it"),
    ("throughput / latency", "thông lượng / độ trễ", "requests per second / time per request"),
    ("trade-off", "sự đánh đổi (trade-off)", "what you give up to get something"),
]


def speaking_timer(seconds: int = 45):
    """A countdown for the self-introduction: press play and speak until the bar is full (runs in the browser)."""
    import ipywidgets as w

    play = w.Play(value=0, min=0, max=seconds, step=1, interval=1000, description="start")
    bar = w.IntProgress(value=0, min=0, max=seconds, description=f"0 / {seconds} s")
    w.jslink((play, "value"), (bar, "value"))
    return w.HBox([play, bar])
