"""The API against hostile input: schemathesis fuzzing from /openapi.json, and named bad requests.

No generated request may cause a 5xx; every error is problem+json; and a named battery of bad
requests (malformed JSON, wrong types, oversized bodies, bad, expired and revoked tokens, another
user's token) each gets its 4xx and leaves every table exactly as it was.
"""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from course_lib import api
from course_lib.auth import TokenService
from course_lib.messages import PROBLEM_JSON
from tests.api_helpers import ORDER, check, fingerprint_of_database, start_api
from tests.conftest import services_reachable


@pytest.fixture(scope="module")
def fuzz_app():
    running = start_api("services" if services_reachable() else "embedded")
    yield running
    running.server.stop()


# Per operation and mode: 16 operations x 2 modes x this many cases, about half a minute in all.
EXAMPLES_PER_OPERATION = 40


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_no_generated_request_causes_a_server_error(fuzz_app, mode):
    """Valid requests (by the schema) and invalid ones, for every operation in /openapi.json.

    Hypothesis drives schemathesis's strategies directly: its pytest plugin does not load under
    pytest 9 ('Function' object has no attribute '_nodeid').
    """
    schema = schemathesis.openapi.from_url(f"{fuzz_app.url}/openapi.json")
    # Its own token: the fuzzer may well DELETE /api/tokens/{its own id} and carry on unauthenticated.
    auth = {"Authorization": f"Bearer {fuzz_app.token('ada@example.com', ['orders:create', 'orders:read'])}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 16  # tokens 2, me 1, orders 3, uploads 7, posts 2, problem pages 1

    for operation in operations:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def no_server_error(case):
            response = case.call(headers=auth)
            assert response.status_code < 500, (case.method, case.path, response.status_code, response.text)
            if response.status_code >= 400:
                # schemathesis's Response keeps every header as a list of values
                assert response.headers["content-type"] == [PROBLEM_JSON], (case.method, case.path, response.text)

        no_server_error()


def bad_requests(app, adas_order_id: int):
    """(description, request maker, expected status): each must change nothing in the database."""
    every = ["orders:create", "orders:read"]
    ada = api.Client(app.url, token=app.token("ada@example.com", every))
    grace = api.Client(app.url, token=app.token("grace@example.com", every))
    anonymous = app.client(None)
    service = TokenService(app.engine)
    expired = service.create(app.users[0].id, "expired", lifetime=timedelta(0)).plain_text
    revoked = service.create(app.users[0].id, "revoked")
    service.revoke(app.users[0].id, revoked.id)
    read_only = app.token("ada@example.com", ["orders:read"])
    adas_other_token = service.create(app.users[0].id, "other")
    raw = httpx.Client(base_url=app.url, timeout=15)  # for what the course's client does not send
    adas = [("Authorization", f"Bearer {app.token('ada@example.com', every)}")]
    uploads = dict([("Authorization", f"Bearer {app.token('ada@example.com', ['uploads:write'])}")])
    return [
        ("malformed JSON", lambda: ada.create_order(b'{"currency": "EUR", "items": [', "k-json"), 400),
        ("wrong types", lambda: ada.create_order(b'{"currency": 978, "items": "BOOK"}', "k-types"), 422),
        ("unknown field", lambda: ada.create_order({**ORDER, "discount": 100}, "k-extra"), 422),
        ("body over 1 MiB", lambda: ada.create_order(b'{"x": "' + b"x" * (1024 * 1024 + 1) + b'"}', "k-big"), 413),
        ("no token", lambda: anonymous.create_order(ORDER, "k-anon"), 401),
        ("made-up token", lambda: anonymous.create_order(ORDER, "k-fake", token="7|" + "a" * 40), 401),
        ("expired token", lambda: anonymous.create_order(ORDER, "k-expired", token=expired), 401),
        ("revoked token", lambda: anonymous.create_order(ORDER, "k-revoked", token=revoked.plain_text), 401),
        ("not a bearer token",
         lambda: anonymous.create_order(ORDER, "k-basic", headers={"Authorization": "Basic YQ=="}), 401),
        ("read-only token", lambda: anonymous.create_order(ORDER, "k-ro", token=read_only), 403),
        ("another user's order", lambda: grace.get(f"/api/orders/{adas_order_id}"), 404),
        ("another user's token id", lambda: grace.delete(f"/api/tokens/{adas_other_token.id}"), 404),
        ("bad cursor", lambda: ada.get("/api/orders", cursor="%%%"), 400),
        ("limit out of range", lambda: ada.get("/api/orders", limit=100_000), 422),
        ("order id out of range", lambda: ada.get("/api/orders/99999999999999999999999"), 422),
        # Idempotency-Key fields that are not one RFC 8941 String (tests/test_conformance.py has the rest)
        ("unterminated key", lambda: ada.create_order(ORDER, None, headers={"Idempotency-Key": '"open'}), 400),
        ("badly escaped key", lambda: ada.create_order(ORDER, None, headers={"Idempotency-Key": '"k\\x"'}), 400),
        ("a list of keys", lambda: ada.create_order(ORDER, None, headers={"Idempotency-Key": '"a", "b"'}), 400),
        ("a bare key with a comma", lambda: ada.create_order(ORDER, None, headers={"Idempotency-Key": "a,b"}), 400),
        ("an empty quoted key", lambda: ada.create_order(ORDER, None, headers={"Idempotency-Key": '""'}), 400),
        ("two key field lines", lambda: raw.post("/api/orders", content=json.dumps(ORDER), headers=[
            *adas, ("Content-Type", "application/json"), ("Idempotency-Key", '"a"'), ("Idempotency-Key", '"b"')]),
         400),
        # numbers that are not ASCII digits, and checksums and names that are not what they claim
        ("order id 1.0", lambda: ada.get("/api/orders/1.0"), 422),
        ("order id in Arabic-Indic digits", lambda: ada.get("/api/orders/\u0661"), 422),
        ("token id ²", lambda: raw.get("/api/me", headers={"Authorization": "Bearer \u00b2|".encode() + b"a" * 40}),
         401),
        ("token id in Arabic-Indic digits",
         lambda: raw.get("/api/me", headers={"Authorization": "Bearer \u0661\u0662|".encode() + b"a" * 40}), 401),
        ("upload named ..", lambda: raw.post("/api/uploads", json={"filename": "..", "size": 10}, headers=uploads),
         422),
        ("anonymous demo controls", lambda: raw.put("/api/posts-controls", json={"latency_ms": 10_000}), 401),
        ("a learner's demo controls", lambda: raw.put("/api/posts-controls", json={"fail_gets": 5}, headers=adas), 403),
        ("a title with a NUL", lambda: raw.put("/api/posts/1", json={"title": "x\u0000y"}), 422),
    ]


def test_bad_requests_get_their_4xx_and_change_nothing(fuzz_app):
    ada = api.Client(fuzz_app.url, token=fuzz_app.token("ada@example.com", ["orders:create"]))
    existing = check(ada.create_order(ORDER, "existing-order"), 201)  # something to protect
    for description, send, status in bad_requests(fuzz_app, existing.id):
        before = fingerprint_of_database(fuzz_app.engine)
        response = send()
        assert response.status_code == status, (description, response.status_code, response.text)
        assert response.headers["content-type"] == PROBLEM_JSON, description
        assert fingerprint_of_database(fuzz_app.engine) == before, f"{description} changed the database"
