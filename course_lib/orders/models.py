"""The shapes the create-order API accepts and answers, as pydantic models (and so OpenAPI schemas).

Bounds are part of the contract: they keep every accepted order inside what the columns hold
(a total of at most 50 x 1,000 x 100,000,000 cents fits BIGINT), so no valid request can reach
the database and fail there with a 500.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Sku = Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9-]{2,31}$", examples=["BOOK-DDIA"])]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["EUR"])]


class OrderItem(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # "1" is not a quantity: no silent coercion

    sku: Sku
    quantity: int = Field(ge=1, le=1000)
    unit_price_cents: int = Field(ge=1, le=100_000_000)


class OrderIn(BaseModel):
    """POST /api/orders body."""

    model_config = ConfigDict(extra="forbid", strict=True)  # "1" is not a quantity: no silent coercion

    currency: Currency
    items: list[OrderItem] = Field(min_length=1, max_length=50)


class OrderOut(BaseModel):
    id: int
    user_id: int
    status: str
    currency: str
    total_cents: int
    items: list[OrderItem]
    created_at: datetime


class OrderPage(BaseModel):
    """One page of GET /api/orders, newest first; pass `next_cursor` back to get the next page."""

    data: list[OrderOut]
    next_cursor: str | None
