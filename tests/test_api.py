"""Feature tests of the course API over real HTTP: every status path, schemas, logs, and who sees what.

Each runs against a uvicorn server on a loopback port, twice: on the embedded backends (SQLite
and the Redis emulator) and on the real MariaDB and Redis.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from course_lib import api, logs
from course_lib.auth import TokenService
from course_lib.auth.models import MeOut, TokenOut
from course_lib.idempotency.keys import fingerprint, hash_for_logs
from course_lib.idempotency.store import IdempotencyStore
from course_lib.lab import race
from course_lib.orders import DEFAULT_CLAIM_LEASE, OrderOut, orders
from course_lib.orders.locks import RedisLock
from course_lib.orders.models import OrderPage
from tests.api_helpers import ORDER, check, start_api


@pytest.fixture(scope="module", params=["embedded", "services"])
def app(request):
    running = start_api(request.param)
    yield running
    running.server.stop()


def new_key() -> str:
    return str(uuid.uuid4())


def orders_with_key(app, key: str) -> int:
    with app.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(orders).where(orders.c.idem_key == key)).scalar()


def ada_id(app) -> int:
    return app.users[0].id


# -- tokens and /me ----------------------------------------------------------------------------

def test_login_returns_the_token_once_and_it_works(app):
    client = app.client(None)
    response = client.http.post("/api/tokens", json={"email": "ada@example.com", "password": "analytical-engine-1843",
                                                     "abilities": ["orders:read"]})
    token = check(response, 201, TokenOut)
    assert response.headers["cache-control"] == "no-store"
    assert token.token.startswith(f"{token.id}|") and token.abilities == ["orders:read"]
    me = check(client.get("/api/me", token=token.token), 200, MeOut)
    assert (me.email, me.token_id, me.abilities) == ("ada@example.com", token.id, ["orders:read"])


@pytest.mark.parametrize(("body", "status"), [
    ({"email": "ada@example.com", "password": "wrong"}, 401),
    ({"email": "nobody@example.com", "password": "analytical-engine-1843"}, 401),
    ({"email": "ada@example.com"}, 422),
    ({"email": "ada@example.com", "password": "analytical-engine-1843", "abilities": ["orders:delete"]}, 422),
])
def test_bad_logins_are_refused(app, body, status):
    check(app.client(None).http.post("/api/tokens", json=body), status)


def test_missing_token_is_401_with_www_authenticate(app):
    response = app.client(None).get("/api/me")
    check(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_expired_and_revoked_tokens_are_401(app):
    expired = TokenService(app.engine).create(ada_id(app), "old", lifetime=timedelta(0)).plain_text
    assert check(app.client().get("/api/me", token=expired), 401).title == "Token expired"
    client = app.client(None)
    token = TokenService(app.engine).create(ada_id(app), "soon-revoked")
    check(client.get("/api/me", token=token.plain_text), 200, MeOut)
    assert client.delete(f"/api/tokens/{token.id}", token=token.plain_text).status_code == 204
    check(client.get("/api/me", token=token.plain_text), 401)


def test_a_user_cannot_revoke_another_users_token(app):
    adas = TokenService(app.engine).create(ada_id(app), "keep")
    check(app.client("grace@example.com").delete(f"/api/tokens/{adas.id}"), 404)
    check(app.client(None).get("/api/me", token=adas.plain_text), 200, MeOut)


def test_missing_ability_is_403(app):
    read_only = app.token("ada@example.com", ["orders:read"])
    create_only = app.token("ada@example.com", ["orders:create"])
    client = app.client(None)
    assert check(client.create_order(ORDER, new_key(), token=read_only), 403).title == "Missing ability"
    check(client.get("/api/orders", token=create_only), 403)


# -- create-order ------------------------------------------------------------------------------

def test_first_call_201_then_retries_200_with_the_identical_body(app):
    client, key = app.client(), new_key()
    first = client.create_order(ORDER, key)
    order = check(first, 201, OrderOut)
    assert first.headers["location"] == f"/api/orders/{order.id}" and order.total_cents == 4200
    for _ in range(3):
        retry = client.create_order(ORDER, key)
        check(retry, 200, OrderOut)
        assert retry.content == first.content and retry.headers["idempotent-replayed"] == "true"
    assert orders_with_key(app, key) == 1


def test_the_same_payload_in_another_key_order_is_the_same_request(app):
    client, key = app.client(), new_key()
    first = client.create_order(b'{"currency":"EUR","items":[{"sku":"PEN-1","quantity":2,"unit_price_cents":150}]}',
                                key)
    again = client.create_order(b'{"items": [{"unit_price_cents": 150, "quantity": 2, "sku": "PEN-1"}], '
                                b'"currency": "EUR"}', key)
    check(first, 201, OrderOut)
    assert again.status_code == 200 and again.content == first.content


def test_changed_payload_with_the_same_key_is_422(app):
    client, key = app.client(), new_key()
    check(client.create_order(ORDER, key), 201, OrderOut)
    assert check(client.create_order({**ORDER, "currency": "USD"}, key), 422).title == "Idempotency-Key reused"


@pytest.mark.parametrize("key", [None, b"", b"x" * 256, "naïve-ключ".encode(), b"tab\there"])
def test_missing_or_malformed_key_is_400(app, key):
    headers = {"Idempotency-Key": key} if key is not None else None  # raw bytes: httpx sends them as they are
    response = app.client().create_order(ORDER, None, headers=headers)
    assert check(response, 400).title.startswith("Idempotency-Key")


def test_409_while_the_first_request_holds_the_redis_lock(app):
    key = new_key()
    lock = RedisLock(app.redis, f"lock:orders:{hash_for_logs(str(ada_id(app)), key)}", lease_ms=5_000)
    lease = lock.acquire()
    try:
        response = app.client().create_order(ORDER, key)
        check(response, 409)
        # No claim exists yet (its holder is between the lock and the claim): the bound is a whole claim
        # lease, so that a later 409 from the claim itself never says more than this one did.
        assert int(response.headers["retry-after"]) == DEFAULT_CLAIM_LEASE.total_seconds()
    finally:
        lock.release(lease)
    check(app.client().create_order(ORDER, key), 201, OrderOut)


def test_without_the_redis_lock_the_claim_keeps_every_guarantee(app):
    """`course serve --no-lock`, measured beside the shipped API by `course bench guards`: concurrent
    duplicates still make one order (the others get 409 or the replay), a changed payload is still 422,
    the replay is still the first answer byte for byte, and the log says the lock was off."""
    server = api.start(api.create_app(app.engine, app.redis, api.ApiConfig(redis_lock=False)))
    try:
        client, key = api.Client(server.url, token=app.tokens["ada@example.com"]), new_key()
        with logs.capture() as lines:
            burst = race.run(lambda _caller: client.create_order(ORDER, key), callers=8)
        answers = list(burst.results.values())
        assert {r.status_code for r in answers} <= {200, 201, 409} and orders_with_key(app, key) == 1
        assert [r.status_code for r in answers].count(201) == 1
        first = next(r for r in answers if r.status_code == 201)
        assert client.create_order(ORDER, key).content == first.content
        check(client.create_order({**ORDER, "currency": "USD"}, key), 422)
        assert {line["lock"] for line in lines if line.get("route") == "/api/orders"} == {"off"}
    finally:
        server.stop()


def test_409_from_the_database_claim_when_the_lock_is_gone(app):
    """Redis lost the lock (a restart): the claim in the database still turns the duplicate away."""
    key = new_key()
    request_body = json.dumps(ORDER).encode()
    IdempotencyStore(app.engine).claim_key(str(ada_id(app)), key, fingerprint("POST", "/api/orders", request_body))
    response = app.client().create_order(request_body, key)
    assert check(response, 409).title == "Request in progress" and int(response.headers["retry-after"]) >= 1


@pytest.mark.parametrize(("body", "status"), [
    (b"{not json", 400),
    (b'{"currency": "EUR", "items": []}', 422),
    (b'{"currency": "euro", "items": [{"sku": "BOOK-DDIA", "quantity": 1, "unit_price_cents": 1}]}', 422),
    (b'{"currency": "EUR", "items": [{"sku": "BOOK-DDIA", "quantity": "1", "unit_price_cents": 1}]}', 422),
    (b'{"currency": "EUR", "items": [{"sku": "BOOK-DDIA", "quantity": 1, "unit_price_cents": 1e99}]}', 422),
    (b'[1, 2, 3]', 422),
])
def test_invalid_orders_are_rejected_with_a_problem(app, body, status):
    check(app.client().create_order(body, new_key()), status)


def test_body_over_one_mebibyte_is_413(app):
    huge = b'{"currency": "EUR", "pad": "' + b"x" * (1024 * 1024) + b'"}'
    check(app.client().create_order(huge, new_key()), 413)


def test_keyset_pagination_walks_every_order_once(app):
    client = app.client("linh@example.com")
    created = [check(client.create_order(ORDER, new_key()), 201, OrderOut).id for _ in range(5)]
    seen, cursor = [], None
    while True:
        page = check(client.get("/api/orders", limit=2, **({"cursor": cursor} if cursor else {})), 200, OrderPage)
        seen += [o.id for o in page.data]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == sorted(created, reverse=True)
    check(client.get("/api/orders", cursor="not-a-cursor"), 400)


def test_unknown_route_is_a_problem_too(app):
    assert "no route" in check(app.client().get("/api/nothing-here"), 404).detail


# -- who sees what -----------------------------------------------------------------------------

def test_a_user_never_reads_another_users_order_or_replay(app):
    key = new_key()
    adas = check(app.client().create_order(ORDER, key), 201, OrderOut)
    grace = app.client("grace@example.com")
    check(grace.get(f"/api/orders/{adas.id}"), 404)
    assert adas.id not in [o.id for o in check(grace.get("/api/orders", limit=100), 200, OrderPage).data]
    # Same key, same body, another user: a new order of Grace's, never Ada's response replayed.
    graces = grace.create_order(ORDER, key)
    mine = check(graces, 201, OrderOut)
    assert mine.id != adas.id and mine.user_id != adas.user_id and "idempotent-replayed" not in graces.headers


# -- crash recovery ----------------------------------------------------------------------------

def test_a_worker_crash_after_its_claim_is_recovered_by_the_retry(app):
    config = api.ApiConfig(claim_lease=timedelta(seconds=1), lock_lease_ms=500, fault_injection=True)
    server = api.start(api.create_app(app.engine, app.redis, config))
    try:
        client, key = api.Client(server.url, token=app.tokens["ada@example.com"]), new_key()
        crashed = client.create_order(ORDER, key, headers={api.FAULT_HEADER: api.CRASH_AFTER_CLAIM})
        check(crashed, 502)
        check(client.create_order(ORDER, key), 409)  # the dead worker's lock (then claim) still stands
        time.sleep(1.1)
        recovered = check(client.create_order(ORDER, key), 201, OrderOut)
        replay = client.create_order(ORDER, key)
        assert replay.status_code == 200 and replay.json()["id"] == recovered.id
    finally:
        server.stop()
    assert orders_with_key(app, key) == 1


def test_a_crash_inside_the_order_transaction_writes_nothing(app):
    """The order and the stored response commit together: a worker that dies between writing the order and
    storing the response leaves no order behind (the crash window the three-phase design had is closed)."""
    from course_lib import failpoints
    from course_lib.orders.service import ORDER_UPSERTED, OrderService, WorkerCrashed

    service = OrderService(app.engine, app.redis, claim_lease=timedelta(seconds=1), lock_lease_ms=500)
    ada = app.users[0].id
    key, body = new_key(), json.dumps(ORDER).encode()
    with pytest.raises(WorkerCrashed), failpoints.crash_at(ORDER_UPSERTED):
        service.create(ada, f'"{key}"', body)
    assert orders_with_key(app, key) == 0, "the order's transaction rolled back with the crash"
    time.sleep(1.1)
    recovered = service.create(ada, f'"{key}"', body)
    assert recovered.response.status == 201 and orders_with_key(app, key) == 1


# -- logs --------------------------------------------------------------------------------------

def test_one_structured_line_per_request_and_no_secret_in_any(app):
    client, key = app.client(None), "customer-42-order-7"
    with logs.capture() as lines:
        login = client.login("ada@example.com", "analytical-engine-1843")
        client.create_order(ORDER, key)
        client.create_order(ORDER, key)
        client.get("/api/me", token="1|" + "z" * 40)
    assert len(lines) == 4
    required = {"request_id", "user_id", "route", "idem_key_hash", "lock", "status", "latency_ms", "replay"}
    assert all(required <= line.keys() for line in lines)
    first, retry = lines[1], lines[2]
    assert (first["status"], first["replay"], first["lock"]) == (201, False, "acquired")
    assert (retry["status"], retry["replay"]) == (200, True) and retry["idem_key_hash"] == first["idem_key_hash"]
    text = "\n".join(json.dumps(line) for line in lines)
    secret = login["token"].split("|")[1]
    for leak in (secret, login["token"], "analytical-engine-1843", key, "z" * 40):
        assert leak not in text
