"""What a claim-first store protects: an operation split at the transaction boundary."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from course_lib.messages import Request, Response


@dataclass(frozen=True)
class Operation:
    """The work behind an idempotency key, split where a transaction may and may not be open.

    external(request, scope, key) -> result: network calls, outside any transaction; must be safe
        to repeat with the same key (a takeover repeats it), as payment providers' keys make it.
        None when the operation calls nothing outside the database (creating an order): the store
        then runs both of its transactions on one pooled connection.
    record(conn, request, scope, key, result) -> Response: database writes, inside the transaction
        that also stores the response; must find, not duplicate, what an earlier holder recorded.
    """

    external: Callable[[Request, str, str], Any] | None
    record: Callable[[Connection, Request, str, str, Any], Response]
