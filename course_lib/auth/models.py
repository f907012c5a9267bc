"""The token and /me request and response bodies of the course API (pydantic: the OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class TokenIn(BaseModel):
    """POST /api/tokens body: log in with e-mail and password, get a token."""

    model_config = ConfigDict(extra="forbid", strict=True)  # "1" is not a quantity: no silent coercion

    email: str = Field(min_length=3, max_length=191)
    password: str = Field(min_length=1, max_length=200)
    token_name: str = Field(default="web", min_length=1, max_length=120)
    abilities: list[str] | None = Field(default=None, max_length=10,
                                        description="subset of orders:create, orders:read; default both")
    expires_in_days: int = Field(default=30, ge=1, le=365)


class TokenOut(BaseModel):
    id: int
    token: str = Field(description="shown once: only its hash is stored")
    abilities: list[str]
    expires_at: datetime | None


class MeOut(BaseModel):
    id: int
    email: str
    name: str
    token_id: int
    token_name: str
    abilities: list[str]
    token_expires_at: datetime | None
