"""Validating an Idempotency-Key header and fingerprinting the request it protects.

Following the IETF "The Idempotency-Key HTTP Header Field" draft: the key is an opaque string
chosen by the client; the server must reject a reused key whose request differs (422) and may
reject malformed keys (400). The fingerprint is what "the same request" means: method, path and
the body in canonical form, so {"a":1,"b":2} and {"b": 2, "a": 1} are the same payload.
"""

from __future__ import annotations

import hashlib
import json

from course_lib.messages import Response, problem

HEADER = "Idempotency-Key"
# Long enough for a UUID, a ULID or a client's own "order-123-attempt" scheme; short enough to
# index. Stripe caps keys at 255 characters too.
MAX_KEY_LENGTH = 255


def key_problem(key: str | None) -> Response | None:
    """A 400 problem+json when the header is missing or malformed, else None."""
    if key is None:
        return problem(400, "Idempotency-Key missing",
                       f"this operation requires an {HEADER} header; send a unique value (e.g. a UUID) per "
                       "operation and reuse it when you retry")
    if key == "":
        return problem(400, "Idempotency-Key malformed", f"{HEADER} is empty; send a unique value such as a UUID")
    if len(key) > MAX_KEY_LENGTH:
        return problem(400, "Idempotency-Key malformed",
                       f"{HEADER} is {len(key)} characters; the limit is {MAX_KEY_LENGTH}")
    if not all(" " <= ch <= "~" for ch in key):
        return problem(400, "Idempotency-Key malformed",
                       f"{HEADER} must be printable ASCII (space to ~); use a UUID or letters, digits and -_")
    return None


def canonical_body(body: bytes) -> bytes:
    """JSON bodies in one canonical form (sorted keys, no spaces); anything else byte for byte."""
    try:
        return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        return body


def fingerprint(method: str, path: str, body: bytes) -> str:
    """sha256 of method, path and canonical body: equal exactly when the requests mean the same."""
    h = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), canonical_body(body)):
        h.update(len(part).to_bytes(8, "big"))  # length-prefixed: no ambiguity between parts
        h.update(part)
    return h.hexdigest()


def hash_for_logs(scope: str, key: str) -> str:
    """A short, stable stand-in for a key in log lines (keys can carry client data; never log them raw)."""
    return hashlib.sha256(f"{scope}\0{key}".encode()).hexdigest()[:16]
