"""Exercises for notebook 04: a command with a rule, an upcaster, a projection that survives replays."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

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
)
from course_lib.events.store import RecordedEvent
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


# Exercise 2: the first shop exported its orders with prices as decimal text in euros, under other names.
LEGACY_ITEMS = [{"sku": "pen", "qty": 3, "price": "0.29", "cur": "eur"},
                {"sku": "book", "qty": 1, "price": "19.99", "cur": "EUR"},
                {"sku": "lamp", "qty": 2, "price": "1234.5", "cur": "eur"}]
UPCAST_EXPECTED = [ItemAdded("pen", 3, 29, "EUR"), ItemAdded("book", 1, 1999, "EUR"),
                   ItemAdded("lamp", 2, 123450, "EUR")]


@exercise("upcast_legacy_item",
          concept="an upcaster reads old stored data into today's shape when it is loaded; the stored history is "
                  "never rewritten, and money must be converted exactly (0.29 * 100 is 28.999... as a float)",
          outline="return a new dict: sku; quantity = qty; unit_price = int(Decimal(price) * 100); currency = "
                  "cur.upper(); do not modify the dict you were given")
def check_upcast(upcast: Callable[[dict[str, Any]], dict[str, Any]]) -> Iterator[tuple[str, bool]]:
    stored = copy.deepcopy(LEGACY_ITEMS)
    events = [ItemAdded(**upcast(data)) for data in stored]
    for got, want in zip(events, UPCAST_EXPECTED, strict=True):
        yield f"{want.sku}: {got.unit_price} cents in {got.currency} (expected {want.unit_price} {want.currency})", \
            got == want
    yield "the stored data is left as it was (history is immutable)", stored == LEGACY_ITEMS
    order = Order.replay("legacy", [OrderCreated("alice"), *events])
    total = sum(e.quantity * e.unit_price for e in UPCAST_EXPECTED)
    yield f"an order replayed from upcast events totals {order.total} cents (expected {total})", order.total == total


ReadModel = dict[str, dict[str, int]]
Handler = Callable[[ReadModel, RecordedEvent], None]
REPLAYED = {"o1": [OrderCreated("alice"), ItemAdded("pen", 3, 29), ItemAdded("book", 1, 1999),
                   ItemRemoved("pen", 1), Paid(2057)],
            "o2": [OrderCreated("bob"), ItemAdded("lamp", 2, 4500), Cancelled("changed mind")]}


def _recorded() -> list[RecordedEvent]:
    """The two orders' events as the store hands them to a projection: global positions, per-stream versions."""
    log: list[RecordedEvent] = []
    now = datetime(2026, 12, 2, 12, 0)
    for stream, events in REPLAYED.items():
        for version, event in enumerate(events, start=1):
            log.append(RecordedEvent(len(log) + 1, stream, version, event.type_name, event.schema_version,
                                     event.to_data(), {}, now))
    return log


def _expected(stream: str) -> dict[str, int]:
    order = Order.replay(stream, REPLAYED[stream])
    return {"version": len(REPLAYED[stream]), "items": sum(q for q, _ in order.lines.values())}


@exercise("replay_safe_projection",
          concept="a projection sees each event at least once: after a crash it reads a batch again, and a rebuild "
                  "reads everything again; remembering the last version applied per order makes a repeat harmless",
          outline="keep read_model[stream] = {'version': 0, 'items': 0}; skip an event whose version is not above "
                  "the stored version; ItemAdded adds its quantity, ItemRemoved subtracts it; store the version")
def check_replay_safe(handle: Handler) -> Iterator[tuple[str, bool]]:
    log = _recorded()
    once: ReadModel = {}
    for r in log:
        handle(once, r)
    expected = {stream: _expected(stream) for stream in REPLAYED}
    yield f"every event once: {once} (expected {expected})", once == expected
    redelivered: ReadModel = {}
    for r in log[:5] + log[2:] + log:  # a crash before the checkpoint (events 3-5 again), then a full replay
        handle(redelivered, r)
    yield f"events delivered again after a crash and a full replay: still {expected} (got {redelivered})", \
        redelivered == expected
