"""The course API against the IETF draft "The Idempotency-Key HTTP Header Field" (draft 07) and RFC 8941.

Written from the draft's text, not from our code: each test names the section it checks. The client is
plain httpx, sending the header bytes exactly as a client following the draft would (quoted Strings),
and as Stripe-style clients do (the unquoted spelling). Every test runs over real HTTP on the embedded
backends (SQLite, the Redis emulator) and on the real MariaDB + Redis.
"""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest
import sqlalchemy as sa

from course_lib import api
from course_lib.idempotency.keys import MAX_KEY_LENGTH
from course_lib.idempotency.problems import KEY_MALFORMED, KEY_MISSING, KEY_REUSED, REQUEST_IN_PROGRESS
from course_lib.idempotency.schema import idempotency_keys
from course_lib.messages import PROBLEM_JSON
from course_lib.orders import orders
from tests.api_helpers import ORDER, start_api

USD = {**ORDER, "currency": "USD"}


@pytest.fixture(scope="module", params=["embedded", "services"])
def app(request):
    running = start_api(request.param)
    yield running
    running.server.stop()


@pytest.fixture
def http(app):
    token = app.tokens["ada@example.com"]
    with httpx.Client(base_url=app.url, headers={"Authorization": f"Bearer {token}"}, timeout=15) as client:
        yield client


def post(http: httpx.Client, key_field: str | bytes | None, body: dict = ORDER, *more: tuple[str, str]):
    """POST /api/orders with the Idempotency-Key field exactly as given (and any further field lines)."""
    headers = [("Content-Type", "application/json")]
    if key_field is not None:
        headers.append(("Idempotency-Key", key_field))
    headers.extend(more)
    return http.post("/api/orders", content=json.dumps(body), headers=headers)


def unique() -> str:
    return f"k-{uuid.uuid4()}"


def orders_under(app, key: str) -> int:
    with app.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(orders).where(orders.c.idem_key == key)).scalar()


def assert_problem(response: httpx.Response, kind) -> None:
    """A problem+json of this type (RFC 9457), whose type page exists, with the draft's Link (section 2.7)."""
    assert response.status_code == kind.status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["type"] == kind.uri
    assert response.headers["link"] == f'<{kind.uri}>; rel="describedby"; type="text/html"'


# --- Section 2.1: an Item Structured Header whose value MUST be a String (RFC 8941 section 3.3.3) ---

def test_2_1_a_quoted_string_is_the_key(app, http):
    key = unique()
    first = post(http, f'"{key}"')
    assert first.status_code == 201 and orders_under(app, key) == 1


def test_2_1_the_unquoted_spelling_is_the_same_key_never_a_second_one(app, http):
    key = unique()
    quoted, bare = post(http, f'"{key}"'), post(http, key)
    assert quoted.status_code == 201 and bare.status_code == 200 and bare.content == quoted.content
    assert orders_under(app, key) == 1


def test_2_1_parameters_on_the_item_do_not_change_the_key(app, http):
    key = unique()
    assert post(http, f'"{key}"').status_code == 201
    assert post(http, f'"{key}";client=retry').status_code == 200
    assert orders_under(app, key) == 1


@pytest.mark.parametrize("field", [
    '"unterminated',  # RFC 8941 3.3.3: a String ends with DQUOTE
    '"k\\x"',  # only \" and \\ may be escaped
    '"caf\u00e9"'.encode(),  # a String is printable ASCII
    '""',  # an empty key identifies nothing
    "a,b",  # a list, not an Item
    '"a", "b"',  # a list of Strings
    "a b",  # not a String, and no single unquoted key either
    '"' + "x" * (MAX_KEY_LENGTH + 1) + '"',  # the published limit counts the key, not the quotes
])
def test_2_1_a_field_that_is_not_one_string_is_400_and_creates_nothing(app, http, field):
    before = _count_orders(app)
    assert_problem(post(http, field), KEY_MALFORMED)
    assert _count_orders(app) == before


def test_2_1_a_key_of_the_published_maximum_length_is_accepted(app, http):
    key = "k" * MAX_KEY_LENGTH
    assert post(http, f'"{key}"').status_code in (200, 201)
    spec = http.get("/openapi.json").json()
    header = next(p for p in spec["paths"]["/api/orders"]["post"]["parameters"] if p["name"] == "Idempotency-Key")
    assert header["schema"]["x-key-max-length"] == MAX_KEY_LENGTH


def test_2_1_two_field_lines_are_400_not_a_silent_pick(app, http):
    first, second = unique(), unique()
    assert_problem(post(http, f'"{first}"', ORDER, ("Idempotency-Key", f'"{second}"')), KEY_MALFORMED)
    assert orders_under(app, first) == orders_under(app, second) == 0


def _count_orders(app) -> int:
    with app.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(orders)).scalar()


# --- Section 2.2: the key is unique; keys compare exactly, on every backend -------------------

@pytest.mark.parametrize(("first", "second"), [
    ("Invoice-A", "invoice-a"),  # MariaDB's default collation folds case
    ("invoice-a", "invoice-a "),  # its _bin collations ignore trailing spaces (PAD SPACE)
])
def test_2_2_keys_that_differ_only_by_case_or_trailing_space_are_two_keys(app, http, first, second):
    prefix = uuid.uuid4().hex[:8]
    a, b = post(http, f'"{prefix}-{first}"'), post(http, f'"{prefix}-{second}"')
    assert a.status_code == b.status_code == 201, (a.text, b.text)
    assert a.json()["id"] != b.json()["id"], "two keys, two orders"


def test_2_2_keys_differing_only_by_unicode_normalisation_are_two_claims(app):
    from course_lib.idempotency.store import ClaimOutcome, IdempotencyStore

    store = IdempotencyStore(app.engine)
    nfc, nfd = "caf\u00e9-" + uuid.uuid4().hex, "cafe\u0301-"
    nfd += nfc.split("-", 1)[1]
    assert store.claim_key("u", nfc, "f" * 64).outcome == ClaimOutcome.NEW
    assert store.claim_key("u", nfd, "f" * 64).outcome == ClaimOutcome.NEW


def test_2_2_reusing_a_key_with_another_payload_is_422(app, http):
    key = unique()
    assert post(http, f'"{key}"').status_code == 201
    assert_problem(post(http, f'"{key}"', USD), KEY_REUSED)
    assert orders_under(app, key) == 1


def test_2_3_after_the_key_record_expires_another_payload_still_never_gets_the_old_order(app, http):
    """Expiry (section 2.3) purges the record; the order it created still knows which request made it."""
    key = unique()
    assert post(http, f'"{key}"').status_code == 201
    with app.engine.begin() as conn:  # 25 hours later: the record was purged past its retention
        conn.execute(sa.delete(idempotency_keys).where(idempotency_keys.c.idem_key == key))
    reused = post(http, f'"{key}"', USD)
    assert reused.status_code != 201
    assert_problem(reused, KEY_REUSED)
    assert orders_under(app, key) == 1


# --- Section 2.6: enforcement -------------------------------------------------------------------

def test_2_6_a_retry_after_completion_gets_the_stored_response(app, http):
    key = unique()
    first, again = post(http, f'"{key}"'), post(http, f'"{key}"')
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"


def test_2_6_a_concurrent_retry_gets_409_with_the_remaining_lease(app, http):
    from course_lib.idempotency.keys import fingerprint
    from course_lib.idempotency.store import IdempotencyStore

    key = unique()
    IdempotencyStore(app.engine).claim_key(str(app.users[0].id), key,
                                           fingerprint("POST", "/api/orders", json.dumps(ORDER).encode()))
    answer = post(http, f'"{key}"')
    assert_problem(answer, REQUEST_IN_PROGRESS)
    assert 1 <= int(answer.headers["retry-after"]) <= 30


# --- Section 2.7: errors point to documentation ---------------------------------------------------

def test_2_7_a_missing_key_is_400_with_a_link_to_documentation(app, http):
    answer = post(http, None)
    assert_problem(answer, KEY_MISSING)
    page = http.get(answer.json()["type"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "What to do" in page.text


def test_2_7_every_problem_type_has_its_page(app, http):
    for kind in (KEY_MISSING, KEY_MALFORMED, KEY_REUSED, REQUEST_IN_PROGRESS):
        page = http.get(kind.uri)
        assert page.status_code == 200 and kind.title in page.text
    assert http.get("/problems/no-such-problem").status_code == 404


def test_2_7_retry_after_never_grows_after_a_crash(app):
    """A crashed holder's retries are told to come back when its claim's lease ends, never later."""
    config = api.ApiConfig(claim_lease=api.ApiConfig().claim_lease, lock_lease_ms=1_000, fault_injection=True)
    server = api.start(api.create_app(app.engine, app.redis, config))
    try:
        with httpx.Client(base_url=server.url, timeout=15,
                          headers={"Authorization": f"Bearer {app.tokens['ada@example.com']}"}) as client:
            key = unique()
            crashed = post(client, f'"{key}"', ORDER, (api.FAULT_HEADER, api.CRASH_AFTER_CLAIM))
            assert crashed.status_code == 502
            waits = []
            for _ in range(3):  # while the lock holds, then after it expired: the claim's lease decides both
                waits.append(int(post(client, f'"{key}"').headers["retry-after"]))
                time.sleep(0.6)
    finally:
        server.stop()
    assert waits == sorted(waits, reverse=True) and waits[0] <= config.claim_lease.total_seconds(), waits
