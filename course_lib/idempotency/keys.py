"""Reading an Idempotency-Key field and fingerprinting the request it protects.

The IETF draft "The Idempotency-Key HTTP Header Field" (section 2.1) makes the field an Item
Structured Field (RFC 8941) whose value MUST be a String: `Idempotency-Key: "8e03978e-..."`. The
field is parsed with `http_sfv`, a parser made for RFC 8941, never by hand:

* a String is the key (its parameters, which RFC 8941 allows on any Item, are ignored);
* the unquoted spelling of the same characters (`Idempotency-Key: 8e03978e-...`, as Stripe's clients
  send it) is accepted as *the same key*: `"K"` and `K` can never become two keys, so a client that
  switches spelling cannot create a duplicate order;
* anything else is a 400 naming the rule broken: an empty string, a value over 255 characters, a
  String that does not parse (unterminated, a bad escape, non-ASCII), a list, several field lines.

The fingerprint is what "the same request" means (draft section 2.4): method, path and the body in
canonical form, so {"a":1,"b":2} and {"b": 2, "a": 1} are the same payload.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets

import http_sfv

from course_lib.idempotency.problems import KEY_MALFORMED, KEY_MISSING
from course_lib.messages import Response

HEADER = "Idempotency-Key"
# Long enough for a UUID, a ULID or a client's own "order-123-attempt" scheme; short enough to
# index. Stripe caps keys at 255 characters too. It counts the key's characters, not the quotes.
MAX_KEY_LENGTH = 255
# The unquoted spelling accepted as the same key: visible ASCII without the characters that would
# make it something else in RFC 8941 (a quote or escape, a list separator, a parameter).
_BARE_KEY = re.compile(r'[!#-+\--:<-\[\]-~]+')


class KeyRejected(Exception):
    """The request's Idempotency-Key field is missing or malformed; `response` is the 400 to send."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.json()["detail"])
        self.response = response


def _malformed(detail: str) -> KeyRejected:
    return KeyRejected(KEY_MALFORMED.response(f"{detail}. {KEY_MALFORMED.todo}"))


def parse_key(field: str | None, lines: int = 1) -> str:
    """The key in an Idempotency-Key field value (`lines`: how many field lines carried it).

    Raises KeyRejected with the 400 to send when the field is missing or is not one String.
    """
    if field is None:
        raise KeyRejected(KEY_MISSING.response(
            f"this operation requires an {HEADER} header; send a unique value (e.g. a UUID) per operation "
            "and reuse it when you retry"))
    if lines > 1:
        raise _malformed(f"{HEADER} was sent on {lines} field lines; a request carries one key")
    raw = field.strip(" \t")
    if raw[:1] == '"':
        key = _parse_string(raw)
    elif _BARE_KEY.fullmatch(raw):
        key = raw  # the unquoted spelling of a key: the same key as its quoted form
    elif "," in raw:
        raise _malformed(f"{HEADER} holds a list; send one key")
    else:
        raise _malformed(f"{HEADER} is not a String (RFC 8941 section 3.3.3)" if raw else f"{HEADER} is empty")
    if not key:
        raise _malformed(f"{HEADER} is an empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise _malformed(f"{HEADER} is {len(key)} characters; the limit is {MAX_KEY_LENGTH}")
    return key


def _parse_string(raw: str) -> str:
    item = http_sfv.Item()
    try:
        item.parse(raw.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        if "," in raw:
            raise _malformed(f"{HEADER} holds a list or several field lines; send one key") from None
        raise _malformed(f"{HEADER} is not a valid quoted String (RFC 8941 section 3.3.3: printable ASCII "
                         'between double quotes, with only \\" and \\\\ escaped)') from None
    if not isinstance(item.value, str) or isinstance(item.value, http_sfv.Token):
        raise _malformed(f"{HEADER} is not a String (RFC 8941 section 3.3.3)")
    return str(item.value)


def key_problem(field: str | None) -> Response | None:
    """The 400 for a missing or malformed key field, else None."""
    try:
        parse_key(field)
    except KeyRejected as rejected:
        return rejected.response
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


# The secret behind the keys' stand-ins in logs. A plain hash of a guessable key ("order-42") can be
# reversed by hashing guesses; a keyed HMAC cannot without the secret. One per process unless the
# deployment sets one (`course serve` reads COURSE_LOG_KEY_SECRET), so restarts need not match.
_LOG_SECRET = secrets.token_bytes(32)


def set_log_secret(secret: bytes) -> None:
    """Use `secret` for the keys' stand-ins in logs (a deployment's own, so lines match across processes)."""
    global _LOG_SECRET
    if len(secret) < 16:
        raise ValueError("the log secret needs at least 16 bytes")
    _LOG_SECRET = secret


def hash_for_logs(scope: str, key: str) -> str:
    """A short, stable stand-in for a key in log lines (keys can carry client data; never log them raw)."""
    return hmac.new(_LOG_SECRET, f"{scope}\0{key}".encode(), hashlib.sha256).hexdigest()[:16]
