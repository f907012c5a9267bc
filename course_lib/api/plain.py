"""The baseline of `course bench guards`: create-order as it is usually written before notebooks 01 and 02.

    POST /api/orders   Authorization: Bearer ...   Idempotency-Key: ...

One token check, then one INSERT of the order under the unique (user_id, idem_key) index, whose
duplicate is forgiven (`ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id)`: the statement then reports the
existing order's id). That alone already prevents a second order per key. What it does not give, and
the course API does: no way for the client to tell a first call from a retry (201 every time), no 409
while the first attempt is still running (a concurrent retry answers with an order that may not be
committed yet), no 422 when a key comes back with another payload (it answers with the first order's id
and the new payload's figures), no byte-identical replay (the body is rebuilt), no check of the key's
syntax. It exists only so that the cost of those guarantees can be measured against it, on the same
stack: FastAPI, the same token service, SQLAlchemy Core on the same pool.
"""

from __future__ import annotations

import json
from typing import Annotated

import sqlalchemy as sa
from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse, Response
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Engine

from course_lib.api import problems
from course_lib.auth import TokenService
from course_lib.backends.columns import is_mysql
from course_lib.backends.sql_backend import insert_or_keep
from course_lib.clock import utc_now
from course_lib.orders.models import OrderIn
from course_lib.orders.schema import orders


def _insert_or_find(engine: Engine, values: dict) -> int:
    """The order's id, new or already there; one statement, one commit."""
    with engine.begin() as conn:
        if is_mysql(conn):
            statement = mysql.insert(orders).values(**values).on_duplicate_key_update(
                id=sa.func.last_insert_id(orders.c.id))
            return int(conn.execute(statement).lastrowid)
        result = conn.execute(insert_or_keep(orders, values, ["user_id", "idem_key"], conn.dialect.name))
        if result.rowcount == 1:
            return int(result.lastrowid)
        return int(conn.execute(sa.select(orders.c.id).where(orders.c.user_id == values["user_id"],
                                                             orders.c.idem_key == values["idem_key"])).scalar_one())


def create_plain_app(engine: Engine) -> FastAPI:
    """The baseline endpoint on `engine` (the course's users, tokens and orders tables)."""
    app = FastAPI(title="Plain create-order (the baseline of course bench guards)")
    tokens = TokenService(engine)
    problems.install(app)

    @app.post("/api/orders", status_code=201)
    def create_order(order: OrderIn, authorization: Annotated[str | None, Header()] = None,
                     idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None
                     ) -> Response:
        who = tokens.authenticate(authorization)
        who.require("orders:create")
        if not idempotency_key:
            return problems.problem_response(400, "Idempotency-Key missing", "send an Idempotency-Key header")
        items = [item.model_dump() for item in order.items]
        values = {"user_id": who.user_id, "idem_key": idempotency_key[:255], "status": "created",
                  "currency": order.currency, "total_cents": sum(i["quantity"] * i["unit_price_cents"] for i in items),
                  "items": json.dumps(items, separators=(",", ":")), "request_fingerprint": "",
                  "created_at": utc_now()}
        order_id = _insert_or_find(engine, values)
        body = {"id": order_id, "user_id": who.user_id, "status": "created", "currency": order.currency,
                "total_cents": values["total_cents"], "items": items}
        return JSONResponse(body, status_code=201)

    return app
