"""The course API under the faults and inputs an outside review tried: takeovers on InnoDB, skewed
application clocks, log lines, instructor-only demo controls, loose numbers, and stalled bodies."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
import uuid
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa

from course_lib import api, backends, logs
from course_lib.api.middleware import BODY_TIMEOUT_S
from course_lib.api.tables import reset_tables
from course_lib.clock import ManualClock
from course_lib.idempotency.keys import fingerprint, hash_for_logs
from course_lib.idempotency.store import RECORDED, ClaimOutcome, IdempotencyStore
from course_lib.lab import race
from course_lib.orders import OrderService, orders
from tests.api_helpers import ORDER, start_api


@pytest.fixture(scope="module", params=["embedded", "services"])
def app(request):
    running = start_api(request.param)
    yield running
    running.server.stop()


# --- takeover on InnoDB: the slow holder reads the new holder's answer, never its own stale snapshot ---

def test_a_slow_holder_whose_lease_was_taken_over_answers_like_the_new_holder(mariadb_engine):
    """A stops inside its record transaction (a GC pause); its lease runs out; B takes over and completes;
    then A goes on. Under REPEATABLE READ, A's plain re-read used to see its own snapshot ("in progress",
    no body) and fail with a 500; every read that decides on another holder's outcome now locks."""
    reset_tables(mariadb_engine)
    clock, locks = ManualClock(), backends.redis_backend.emulator().client
    service = OrderService(mariadb_engine, locks, clock=clock)
    body, key = json.dumps(ORDER).encode(), f"slow-{uuid.uuid4()}"

    def slow_a(_caller: race.Caller):
        return service.create(7, f'"{key}"', body)

    def takeover_b(_caller: race.Caller):
        locks.flushall()  # A's Redis lock ran out too (its lease is shorter than the claim's)
        clock.advance(service.store.lease.total_seconds() + 1)
        return service.create(7, f'"{key}"', body)

    result = race.run([slow_a, takeover_b], schedule=[("A", RECORDED), ("B", race.END), ("A", race.END)],
                      block_timeout=1.0)
    result.raise_first_error()
    a, b = result.results["A"].response, result.results["B"].response
    assert {a.status, b.status} <= {200, 201} and a.body == b.body, (a, b)
    with mariadb_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(orders)
                            .where(orders.c.idem_key == key)).scalar() == 1


# --- leases on the database's clock -----------------------------------------------------------------

def test_a_server_whose_clock_runs_ahead_does_not_take_over_a_live_claim(sql_engine, monkeypatch):
    reset_tables(sql_engine)
    fp = fingerprint("POST", "/api/orders", b"{}")
    first = IdempotencyStore(sql_engine)
    assert first.claim_key("1", "skew", fp).outcome == ClaimOutcome.NEW
    skewed = IdempotencyStore(sql_engine)  # another app server, 31 s ahead of the database
    import course_lib.clock

    ahead = course_lib.clock.utc_now() + timedelta(seconds=31)
    monkeypatch.setattr(course_lib.clock, "utc_now", lambda: ahead)
    assert skewed.claim_key("1", "skew", fp).outcome == ClaimOutcome.IN_FLIGHT


# --- log lines ----------------------------------------------------------------------------------------

def test_keys_in_logs_are_keyed_hashes_and_a_crash_line_carries_one(app):
    key = f"order-{uuid.uuid4()}"
    config = api.ApiConfig(claim_lease=timedelta(seconds=30), lock_lease_ms=1_000, fault_injection=True)
    server = api.start(api.create_app(app.engine, app.redis, config))
    try:
        client = api.Client(server.url, token=app.tokens["ada@example.com"])
        with logs.capture() as lines:
            crashed = client.create_order(ORDER, key, headers={api.FAULT_HEADER: api.CRASH_AFTER_CLAIM})
            retry = client.create_order(ORDER, key)
    finally:
        server.stop()
    assert crashed.status_code == 502 and retry.status_code == 409
    expected = hash_for_logs(str(app.users[0].id), key)
    assert [line["idem_key_hash"] for line in lines if line.get("route") == "/api/orders"] == [expected, expected]
    guess = hashlib.sha256(f"{app.users[0].id}\0{key}".encode()).hexdigest()[:16]
    assert expected != guess, "an unkeyed hash of a guessable key can be reversed by hashing guesses"


# --- demo controls belong to the instructor, and their latency never holds a worker thread ---------------

def _instructor_token(app, abilities=("demo:control",)) -> str:
    answer = httpx.post(f"{app.url}/api/tokens", json={"email": "instructor@example.com",
                                                       "password": "slides-and-coffee-0900",
                                                       "abilities": list(abilities)})
    assert answer.status_code == 201, answer.text
    return answer.json()["token"]


def test_demo_controls_need_an_instructor_token(app):
    url, knobs = f"{app.url}/api/posts-controls", {"latency_ms": 0}
    assert httpx.put(url, json=knobs).status_code == 401
    learner = app.tokens["ada@example.com"]
    assert httpx.put(url, json=knobs, headers={"Authorization": f"Bearer {learner}"}).status_code == 403
    asked = httpx.post(f"{app.url}/api/tokens", json={"email": "ada@example.com", "password": "analytical-engine-1843",
                                                      "abilities": ["demo:control"]})
    assert asked.status_code == 403 and asked.json()["title"] == "Instructors only"
    other = _instructor_token(app, ["orders:read"])  # an instructor's token without the ability
    assert httpx.put(url, json=knobs, headers={"Authorization": f"Bearer {other}"}).status_code == 403
    instructor = _instructor_token(app)
    assert httpx.put(url, json=knobs, headers={"Authorization": f"Bearer {instructor}"}).status_code == 200


def test_a_slow_demo_does_not_starve_other_routes(app):
    instructor = {"Authorization": f"Bearer {_instructor_token(app)}"}
    httpx.put(f"{app.url}/api/posts-controls", json={"latency_ms": 2_000}, headers=instructor).raise_for_status()
    try:
        slow = [threading.Thread(target=httpx.get, args=(f"{app.url}/api/posts",), kwargs={"timeout": 10})
                for _ in range(45)]
        for t in slow:
            t.start()
        time.sleep(0.3)  # every slow GET is now waiting out its latency
        start = time.perf_counter()
        me = httpx.get(f"{app.url}/api/me", headers={"Authorization": f"Bearer {app.tokens['ada@example.com']}"})
        waited = time.perf_counter() - start
        for t in slow:
            t.join()
    finally:
        httpx.put(f"{app.url}/api/posts-controls", json={"latency_ms": 0}, headers=instructor)
    assert me.status_code == 200 and waited < 1.0, f"/api/me waited {waited:.1f} s behind the demo's latency"


@pytest.mark.parametrize("title", ["x\u0000y", "line\nbreak", "bell\u0007", ""])
def test_post_titles_with_control_characters_are_refused(app, title):
    answer = httpx.put(f"{app.url}/api/posts/1", json={"title": title})
    assert answer.status_code == 422


def test_a_title_with_markup_is_stored_as_text(app):
    from course_lib.ui.posts import seed_posts

    seed_posts(app.engine)
    markup = "<img src=x onerror=alert(1)>"
    answer = httpx.put(f"{app.url}/api/posts/1", json={"title": markup})
    assert answer.status_code == 200 and answer.json()["title"] == markup


# --- numbers are ASCII digits, checksums are checksums, names are names -------------------------------

@pytest.mark.parametrize("path", ["/api/orders/1.0", "/api/orders/%D9%A1", "/api/orders/%C2%B2", "/api/orders/+1"])
def test_ids_in_paths_are_ascii_digits(app, path):
    token = app.tokens["ada@example.com"]
    assert httpx.get(f"{app.url}{path}", headers={"Authorization": f"Bearer {token}"}).status_code == 422


@pytest.mark.parametrize("token_id", ["\u00b2", "\u0661\u0662", "1.0", " 1"])
def test_token_ids_that_are_not_ascii_digits_are_401_never_500(app, token_id):
    header = f"Bearer {token_id}|{'a' * 40}".encode()
    assert httpx.get(f"{app.url}/api/me", headers={"Authorization": header}).status_code == 401


def _upload(app) -> tuple[dict, dict]:
    auth = {"Authorization": f"Bearer {app.tokens['ada@example.com']}"}
    created = httpx.post(f"{app.url}/api/uploads", json={"filename": "strict.bin", "size": 6 * 2**20,
                                                         "part_size": 5 * 2**20}, headers=auth, timeout=30)
    assert created.status_code == 201, created.text
    return created.json(), auth


@pytest.mark.parametrize(("number", "md5", "crc"), [
    (" 1 ", "AAAAAAAAAAAAAAAAAAAAAA==", "AAAAAA=="),
    ("\u0661", "AAAAAAAAAAAAAAAAAAAAAA==", "AAAAAA=="),
    ("1", "abc\r\nX-Evil: 1", "AAAAAA=="),
    ("1", "AAAA", "AAAAAA=="),
    ("1", "AAAAAAAAAAAAAAAAAAAAAA==", "not base64"),
])
def test_sign_refuses_loose_part_numbers_and_checksums(app, number, md5, crc):
    created, auth = _upload(app)
    answer = httpx.post(f"{app.url}/api/uploads/{created['upload_id']}/sign", headers=auth,
                        json={"parts": {number: {"content_md5": md5, "crc32": crc}}})
    assert answer.status_code == 422, answer.text


@pytest.mark.parametrize("filename", [".", "..", "..."])
def test_dot_filenames_are_refused(app, filename):
    auth = {"Authorization": f"Bearer {app.tokens['ada@example.com']}"}
    answer = httpx.post(f"{app.url}/api/uploads", json={"filename": filename, "size": 10}, headers=auth)
    assert answer.status_code == 422


# --- a stalled body times out and its connection is closed --------------------------------------------

def test_a_request_whose_body_stalls_gets_408_and_a_closed_connection(app):
    host, port = app.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=BODY_TIMEOUT_S + 10) as sock:
        sock.sendall(b"POST /api/tokens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"email\":")
        start = time.perf_counter()
        received = b""
        while chunk := sock.recv(65536):  # until the server closes the connection
            received += chunk
        waited = time.perf_counter() - start
    assert received.startswith(b"HTTP/1.1 408"), received[:80]
    assert BODY_TIMEOUT_S - 1 <= waited <= BODY_TIMEOUT_S + 5
