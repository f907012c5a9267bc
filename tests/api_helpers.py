"""Shared by the API's feature and fuzz tests: a running server on each backend pair, and checkers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from types import SimpleNamespace

import httpx
import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.engine import Engine

from course_lib import api, backends
from course_lib.api.problems import Problem
from course_lib.api.tables import reset_tables
from course_lib.auth import DemoUser, TokenService, seed_users
from course_lib.auth.schema import personal_access_tokens, users
from course_lib.backends import settings
from course_lib.idempotency.schema import idempotency_keys
from course_lib.messages import PROBLEM_JSON
from course_lib.orders import orders
from tests.conftest import require_services

ORDER = {"currency": "EUR", "items": [{"sku": "BOOK-DDIA", "quantity": 1, "unit_price_cents": 4200}]}


@dataclass
class Api:
    """A running course API with its engine, the demo users and a token for each."""

    url: str
    engine: Engine
    redis: object
    users: list[DemoUser]
    tokens: dict[str, str]  # email -> plain-text token with every ability
    server: api.RunningServer

    def client(self, email: str | None = "ada@example.com") -> api.Client:
        return api.Client(self.url, token=self.tokens[email] if email else None)

    def token(self, email: str, abilities: list[str]) -> str:
        user = next(u for u in self.users if u.email == email)
        return TokenService(self.engine).create(user.id, "test", abilities).plain_text


def backends_for(kind: str) -> tuple[Engine, object]:
    """("embedded": a SQLite file + the Redis emulator) or ("services": the real MariaDB + Redis)."""
    if kind == "services":
        require_services()
        return (backends.sql_backend.connect(settings.MYSQL_DEFAULT_URL).engine,
                backends.redis_backend.connect(settings.REDIS_DEFAULT_URL).client)
    path = settings.current().build_dir / "test-api.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    return backends.sql_backend.connect(f"sqlite:///{path}").engine, backends.redis_backend.emulator().client


def start_api(kind: str, config: api.ApiConfig | None = None) -> Api:
    engine, redis_client = backends_for(kind)
    reset_tables(engine)
    demo = seed_users(engine)
    tokens = {u.email: TokenService(engine).create(u.id, "test").plain_text for u in demo}
    server = api.start(api.create_app(engine, redis_client, config))
    return Api(server.url, engine, redis_client, demo, tokens, server)


def check(response: httpx.Response, status: int, model: type[BaseModel] | None = None):
    """Assert the status and validate the body against its schema (problem+json for errors)."""
    assert response.status_code == status, (response.status_code, response.text)
    if status >= 400:
        assert response.headers["content-type"] == PROBLEM_JSON, response.headers
        problem = Problem.model_validate(response.json())
        assert problem.status == status and problem.detail
        return problem
    if model is None:
        return SimpleNamespace(**response.json())
    return model.model_validate(response.json())


def fingerprint_of_database(engine: Engine) -> str:
    """One hash over every row the API writes, to prove a bad request changed nothing."""
    digest = hashlib.sha256()
    with engine.connect() as conn:
        for table in (users, personal_access_tokens, idempotency_keys, orders):
            columns = [c for c in table.c if c.name != "last_used_at"]  # reads may touch last use
            for row in conn.execute(sa.select(*columns).order_by(table.c.id)):
                digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()
