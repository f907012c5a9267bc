"""The create-order case study: Redis lock + claim-first store + order upsert (notebook 02).

    from course_lib.orders import OrderService, reset
"""

from __future__ import annotations

from course_lib.orders.models import OrderIn, OrderItem, OrderOut
from course_lib.orders.schema import inventory, orders, reset
from course_lib.orders.service import (
    DEFAULT_CLAIM_LEASE,
    DEFAULT_LOCK_LEASE_MS,
    OrderOutcome,
    OrderService,
    orders_with_key,
)

__all__ = [
    "DEFAULT_CLAIM_LEASE", "DEFAULT_LOCK_LEASE_MS", "OrderIn", "OrderItem", "OrderOut", "OrderOutcome",
    "OrderService", "inventory", "orders", "orders_with_key", "reset",
]
