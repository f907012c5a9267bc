"""`course bench guards` and its baseline: the plain endpoint does what it says (and no more), and a short
side-by-side run reports every figure for both sides."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from course_lib import api, backends
from course_lib.api.plain import create_plain_app
from course_lib.api.tables import reset_tables
from course_lib.auth import TokenService, seed_users
from course_lib.orders.service import orders_with_key

from .conftest import require_services

ORDER = {"currency": "EUR", "items": [{"sku": "BOOK-DDIA", "quantity": 1, "unit_price_cents": 4200}]}


@pytest.fixture
def plain(clean_env):
    engine = backends.sql().engine
    reset_tables(engine)
    ada = seed_users(engine)[0]
    token = TokenService(engine).create(ada.id, "plain", ["orders:create"]).plain_text
    server = api.start(create_plain_app(engine))
    yield server.url, token, engine, ada.id
    server.stop()


def test_the_plain_endpoint_makes_one_order_per_key(plain):
    url, token, engine, user_id = plain
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "k-1"}
    first = httpx.post(f"{url}/api/orders", json=ORDER, headers=headers)
    again = httpx.post(f"{url}/api/orders", json=ORDER, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201), "a retry looks like a first call"
    assert first.json()["id"] == again.json()["id"] and orders_with_key(engine, user_id, "k-1") == 1


def test_the_plain_endpoint_lacks_the_guarantees_the_course_api_gives(plain):
    """What the baseline is for: it answers a changed payload with the first order instead of 422."""
    url, token, engine, user_id = plain
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "k-2"}
    httpx.post(f"{url}/api/orders", json=ORDER, headers=headers)
    changed = {**ORDER, "items": [{**ORDER["items"][0], "quantity": 5}]}
    answer = httpx.post(f"{url}/api/orders", json=changed, headers=headers)
    assert answer.status_code == 201 and answer.json()["total_cents"] == 5 * 4200  # not the stored order's 4200
    assert orders_with_key(engine, user_id, "k-2") == 1


def test_the_plain_endpoint_still_refuses_a_bad_token(plain):
    url, _token, _engine, _ = plain
    answer = httpx.post(f"{url}/api/orders", json=ORDER, headers={"Authorization": "Bearer 1|nope",
                                                                   "Idempotency-Key": "k"})
    assert answer.status_code == 401 and answer.headers["content-type"] == "application/problem+json"


def test_concurrent_same_key_requests_on_the_plain_endpoint_make_one_order(plain):
    url, token, engine, user_id = plain
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "same"}
    statuses: list[int] = []
    threads = [threading.Thread(target=lambda: statuses.append(
        httpx.post(f"{url}/api/orders", json=ORDER, headers=headers).status_code)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [201] * 8
    assert orders_with_key(engine, user_id, "same") == 1


def test_a_short_guards_bench_reports_every_side_and_both_scenarios(tmp_path, clean_env):
    require_services()
    from course_lib.lab.bench import guards

    report = guards.main(seconds=1.0, runs=1, clients=4, out=tmp_path / "guards.json")
    assert json.loads((tmp_path / "guards.json").read_text()) == report
    for part in (report, report["repeats"]):
        course, no_lock, plain = (part["figures"][side] for side in ("course", "no_lock", "plain"))
        assert course["rps"] > 0 and no_lock["rps"] > 0 and plain["rps"] > 0 and course["cpu_ms_per_request"] > 0
        assert part["ratio"] == pytest.approx(course["rps"] / plain["rps"], rel=0.01)
        assert part["figures"]["without_lock"]["ratio"] == pytest.approx(no_lock["rps"] / plain["rps"], rel=0.01)
        assert course["fsyncs_per_request"] > plain["fsyncs_per_request"] > 0, "the claim commits before the work"
        assert no_lock["fsyncs_per_request"] > plain["fsyncs_per_request"], "without the lock the claim still commits"
        # The lock: SET, then the release script's EVALSHA running GET and DEL; nobody else talks to Redis.
        assert course["redis_per_request"] > 3 and no_lock["redis_per_request"] == plain["redis_per_request"] == 0
    assert all(set(r["statuses"]) <= {"200", "201"} for r in report["runs"]), "every request answered"
    assert any("200" in r["statuses"] for r in report["runs"] if r["side"] == "course"), "the course API replays"


def test_the_wire_counter_sees_each_command_once_and_passes_the_answers_through(clean_env):
    require_services()
    import pymysql

    from course_lib.lab.bench.wire import WireCounter

    url = backends.sql().engine.url
    counter = WireCounter(url.host or "127.0.0.1", url.port or 3306)
    try:
        conn = pymysql.connect(host="127.0.0.1", port=counter.port, user=url.username, password=url.password or "",
                               database=url.database)
        before = counter.counts()
        with conn.cursor() as cursor:
            cursor.execute("SELECT %s", ("x" * 70_000,))  # an answer longer than one read
            assert cursor.fetchone() == ("x" * 70_000,)
        conn.commit()
        conn.ping(reconnect=False)
        conn.close()
        after = counter.counts()
    finally:
        counter.close()
    assert {name: after[name] - before[name] for name in after} == {"statements": 2, "commits": 1, "pings": 1}


def test_round_trips_counted_on_the_wire_match_mariadbs_own_counters(tmp_path, clean_env):
    """Notebook 02 counts on the wire (a workshop's MariaDB has other clients); alone, both ways agree."""
    require_services()
    from course_lib.lab.bench import guards

    counted = {}
    for wire in (False, True):
        report = guards.main(seconds=1.0, runs=1, clients=4, out=tmp_path / f"guards-{wire}.json", wire=wire)
        assert report["database_counters"] == ("wire" if wire else "server")
        counted[wire] = {side: tuple(round(report["figures"][side][f"{name}_per_request"])
                                     for name in ("statements", "pings", "commits")) for side in guards.SIDES}
    assert counted[True] == counted[False] == {"course": (6, 1, 2), "no_lock": (6, 1, 2), "plain": (4, 2, 1)}
