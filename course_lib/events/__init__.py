"""Event sourcing on SQL: an order's life as events (notebook 04).

    from course_lib.events import Order, EventStore, OrderRepository
"""

from __future__ import annotations

from .domain import (
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
from .projections import Projection
from .repository import OrderRepository
from .store import ConcurrencyError, EventStore, RecordedEvent

__all__ = [
    "Cancelled", "ConcurrencyError", "DomainError", "Event", "EventStore", "ItemAdded", "ItemRemoved", "Order",
    "OrderCreated", "OrderRepository", "Paid", "Projection", "RecordedEvent", "Shipped", "event_types",
]
