"""Reference solution for notebook 04's exercise: the aggregate's own command."""

from __future__ import annotations

from course_lib.events.domain import Event, Order


def cancel_order(order: Order, reason: str) -> list[Event]:
    return order.cancel(reason)
