"""Checking a presigned URL's signature the way S3 does, for the embedded server (moto checks none).

A presigned URL carries its signature in the query (AWS S3 API reference, "Authenticating Requests:
Using Query Parameters (AWS Signature Version 4)"). S3 recomputes it from the request it receives:

    canonical request = method, URI path, query without X-Amz-Signature (names and values URI-encoded,
                        then sorted), "name:value" of every header listed in X-Amz-SignedHeaders,
                        that list, and "UNSIGNED-PAYLOAD"
    string to sign    = "AWS4-HMAC-SHA256", X-Amz-Date, the credential scope, SHA-256 of the above
    signature         = HMAC-SHA256 chain: "AWS4" + secret -> date -> region -> "s3" -> "aws4_request"

so a request whose signed headers differ from the ones signed (another Content-Length, another
x-amz-checksum-crc32) gets 403 SignatureDoesNotMatch, and one past X-Amz-Date + X-Amz-Expires gets
403 AccessDenied "Request has expired". Only the access keys this server knows are checked: moto
accepts any key, and so does this layer for keys it was not given.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"


def _encode(text: str) -> str:
    """URI-encode as SigV4 does: every byte but A-Z a-z 0-9 - _ . ~ as %XX (a space is %20)."""
    return quote(text, safe="-_.~")


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _query(raw: str) -> list[tuple[str, str]]:
    pairs = []
    for item in filter(None, raw.split("&")):
        name, _, value = item.partition("=")
        pairs.append((unquote(name.replace("+", " ")), unquote(value.replace("+", " "))))
    return pairs


def _header(environ: dict[str, Any], name: str) -> str:
    if name == "content-length":
        value = environ.get("CONTENT_LENGTH", "")
    elif name == "content-type":
        value = environ.get("CONTENT_TYPE", "")
    else:
        value = environ.get("HTTP_" + name.upper().replace("-", "_"), "")
    return " ".join(str(value).split())


def expires_at(params: dict[str, str]) -> datetime | None:
    """When a presigned URL stops being valid: X-Amz-Date + X-Amz-Expires, or None if it carries neither.
    ValueError when they are not a date and a number of seconds."""
    if "X-Amz-Date" not in params or "X-Amz-Expires" not in params:
        return None
    signed_at = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return signed_at + timedelta(seconds=int(params["X-Amz-Expires"]))


def refusal(environ: dict[str, Any], secrets: dict[str, str], now: datetime | None = None) -> tuple[str, str] | None:
    """(S3 error code, message) for a presigned request S3 would refuse, or None: not presigned, an access
    key this server was not given, or a signature that holds."""
    query = _query(environ.get("QUERY_STRING", ""))
    params = dict(query)
    if "X-Amz-Signature" not in params or params.get("X-Amz-Algorithm") != ALGORITHM:
        return None
    key_id, _, scope = params.get("X-Amz-Credential", "").partition("/")
    if key_id not in secrets:
        return None
    stamp = params.get("X-Amz-Date", "")
    try:
        until = expires_at(params)
    except ValueError:
        until = None
    if until is None:
        return "AuthorizationQueryParametersError", "X-Amz-Date and X-Amz-Expires must be a date and a number."
    if (now or datetime.now(UTC)) > until:
        return "AccessDenied", "Request has expired"
    names = params.get("X-Amz-SignedHeaders", "").split(";")
    path = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or quote(environ.get("PATH_INFO", "/"))).split("?")[0]
    canonical = "\n".join([
        environ["REQUEST_METHOD"], path,
        "&".join(f"{n}={v}" for n, v in sorted((_encode(n), _encode(v)) for n, v in query if n != "X-Amz-Signature")),
        "".join(f"{name}:{_header(environ, name)}\n" for name in names),
        ";".join(names), "UNSIGNED-PAYLOAD"])
    to_sign = "\n".join([ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secrets[key_id]).encode()
    for part in scope.split("/"):  # date, region, service, "aws4_request"
        key = _hmac(key, part)
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, params["X-Amz-Signature"]):
        return "SignatureDoesNotMatch", ("The request signature we calculated does not match the signature you "
                                         "provided. Check your key and signing method.")
    return None
