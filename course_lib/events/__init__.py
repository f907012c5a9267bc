"""Event sourcing on SQL: an order's life as events (notebook 04).

    from course_lib.events import Order, EventStore, OrderRepository
"""

from __future__ import annotations

from course_lib.events.domain import (
    Cancelled,
    DomainError,
    Event,
    ItemAdded,
    ItemRemoved,
    Order,
    OrderCreated,
    Paid,
    Shipped,
    event_types,
)
from course_lib.events.projections import Projection
from course_lib.events.repository import OrderRepository
from course_lib.events.store import ConcurrencyError, EventStore, RecordedEvent

__all__ = [
    "Cancelled", "ConcurrencyError", "DomainError", "Event", "EventStore", "ItemAdded", "ItemRemoved", "Order",
    "OrderCreated", "OrderRepository", "Paid", "Projection", "RecordedEvent", "Shipped", "event_types",
]
