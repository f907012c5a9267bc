"""Exercise for notebook 04: a command with a rule."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from course_lib.events.domain import Cancelled, DomainError, Event, ItemAdded, Order, OrderCreated, Paid, Shipped
from course_lib.lab.exercises import exercise

Cancel = Callable[[Order, str], list[Event]]

HISTORIES: dict[str, list[Event]] = {
    "new": [],
    "open": [OrderCreated("alice"), ItemAdded("book", 1, 1500)],
    "paid": [OrderCreated("alice"), ItemAdded("book", 1, 1500), Paid(1500)],
    "shipped": [OrderCreated("alice"), ItemAdded("book", 1, 1500), Paid(1500), Shipped("dhl")],
    "cancelled": [OrderCreated("alice"), Cancelled("duplicate")],
}


@exercise("cancel_order",
          concept="a command checks the aggregate's current state and either returns the events it causes or "
                  "refuses with DomainError; it never changes the state itself",
          outline="check order.status: 'open' and 'paid' may cancel -> [Cancelled(reason)]; "
          "otherwise raise DomainError with a message")
def check_cancel(cancel: Cancel) -> Iterator[tuple[str, bool]]:
    for status, history in HISTORIES.items():
        order = Order.replay("o", history)
        if status in ("open", "paid"):
            events = cancel(order, "changed mind")
            yield f"a {status} order is cancelled with one Cancelled event", events == [Cancelled("changed mind")]
            continue
        try:
            cancel(order, "changed mind")
        except DomainError:
            yield f"a {status} order cannot be cancelled (DomainError)", True
        else:
            yield f"a {status} order cannot be cancelled (DomainError)", False
