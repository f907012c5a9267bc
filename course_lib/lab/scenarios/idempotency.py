"""The scenarios notebook 01, its exercise and its tests run: the same request sent many times.

An *endpoint* is any `Request -> Response` function (the seed flow or the claim-first one), so
each scenario runs both designs unchanged and the numbers compare like with like.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from course_lib.idempotency.charges import executions
from course_lib.idempotency.keys import HEADER
from course_lib.lab import race
from course_lib.messages import Request, Response

Endpoint = Callable[[Request], Response]


def charge_request(user: str = "alice", key: str | None = "order-1", amount: int = 1000, currency: str = "EUR",
                   header: str = HEADER) -> Request:
    """POST /charges with a JSON body; `key=None` sends no idempotency header."""
    body = json.dumps({"amount": amount, "currency": currency}).encode()
    return Request(user, "POST", "/charges", body, {header: key} if key is not None else {})


@dataclass
class Retries:
    responses: dict[str, Response]
    executions: int  # charges caused by this request's (user, key)
    race: race.RaceResult

    @property
    def statuses(self) -> list[int]:
        return [self.responses[name].status for name in sorted(self.responses)]


def concurrent_retries(engine: Engine, endpoint: Endpoint, request: Request, callers: int,
                       schedule: str | None = None) -> Retries:
    """`callers` copies of one request at once (a client retrying on timeouts, a double-click)."""
    result = race.run(lambda _caller: endpoint(request), callers=callers, schedule=schedule)
    result.raise_first_error()
    key = next(iter(request.headers.values()), "")
    return Retries(result.results, executions(engine).get(f"{request.user}:{key}", 0), result)


def _send(endpoint: Endpoint, request: Request, _caller: race.Caller) -> Response:
    return endpoint(request)


@dataclass
class Stress:
    executions_per_key: dict[str, int]
    statuses: Counter
    seconds: float

    @property
    def duplicated_keys(self) -> int:
        return sum(n > 1 for n in self.executions_per_key.values())


def stress(engine: Engine, endpoint: Endpoint, keys: int, copies: int, header: str = HEADER) -> Stress:
    """keys x copies requests released together, every copy of a key identical."""
    requests = [charge_request(key=f"stress-{i % keys}", header=header) for i in range(keys * copies)]
    result = race.run([functools.partial(_send, endpoint, r) for r in requests])
    result.raise_first_error()
    counts = executions(engine)
    per_key = {f"stress-{i}": counts.get(f"alice:stress-{i}", 0) for i in range(keys)}
    return Stress(per_key, Counter(r.status for r in result.results.values()), result.elapsed)
