"""The Order aggregate and its events.

Events are facts in the past tense, immutable, each with a type name and a schema version so that
stored events can be read back after the code has moved on. The aggregate decides (commands check
invariants and raise DomainError) and then records events; its state changes only by applying
events, so replaying the same events always rebuilds the same state.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar


class DomainError(Exception):
    """A command broke a business rule; nothing was recorded."""


@dataclass(frozen=True)
class Event:
    type_name: ClassVar[str]
    schema_version: ClassVar[int] = 1

    def to_data(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class OrderCreated(Event):
    type_name = "OrderCreated"
    customer: str


@dataclass(frozen=True)
class ItemAdded(Event):
    type_name = "ItemAdded"
    schema_version = 2  # v2 added the currency; v1 events are read through an upcaster
    sku: str
    quantity: int
    unit_price: int  # minor units (cents): money is never a float
    currency: str = "EUR"


@dataclass(frozen=True)
class ItemRemoved(Event):
    type_name = "ItemRemoved"
    sku: str
    quantity: int


@dataclass(frozen=True)
class Paid(Event):
    type_name = "Paid"
    amount: int


@dataclass(frozen=True)
class Shipped(Event):
    type_name = "Shipped"
    carrier: str


@dataclass(frozen=True)
class Cancelled(Event):
    type_name = "Cancelled"
    reason: str


_EVENT_TYPES: dict[str, type[Event]] = {
    cls.type_name: cls for cls in (OrderCreated, ItemAdded, ItemRemoved, Paid, Shipped, Cancelled)}


def event_types() -> dict[str, type[Event]]:
    """Every event class by its stored type name."""
    return dict(_EVENT_TYPES)


# Upcasters turn a stored event's data from schema version n into n + 1, so old events stay readable
# after the code moves on without rewriting history. Keyed by (type name, version they read).
UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {
    ("ItemAdded", 1): lambda data: {**data, "currency": "EUR"},  # every v1 price was in euros
}


def decode(type_name: str, schema_version: int, data: dict[str, Any]) -> Event:
    """Build the current event class from stored data of any older schema version."""
    cls = _EVENT_TYPES[type_name]
    version = schema_version
    while version < cls.schema_version:
        upcast = UPCASTERS.get((type_name, version))
        if upcast is None:
            raise ValueError(f"{type_name} v{version} cannot be read: no upcaster to v{version + 1}")
        data, version = upcast(data), version + 1
    return cls(**data)


@dataclass
class Order:
    """State rebuilt from events. Commands return the new events; `apply` is the only mutator."""

    id: str
    version: int = 0
    customer: str = ""
    lines: dict[str, tuple[int, int]] = field(default_factory=dict)  # sku -> (quantity, unit price)
    status: str = "new"  # new | open | paid | shipped | cancelled
    paid: int = 0

    @property
    def total(self) -> int:
        return sum(q * p for q, p in self.lines.values())

    # --- replay ---------------------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        match event:
            case OrderCreated(customer=customer):
                self.customer, self.status = customer, "open"
            case ItemAdded(sku=sku, quantity=q, unit_price=p):
                self.lines[sku] = (self.lines.get(sku, (0, p))[0] + q, p)
            case ItemRemoved(sku=sku, quantity=q):
                held, price = self.lines[sku]
                if held == q:
                    del self.lines[sku]
                else:
                    self.lines[sku] = (held - q, price)
            case Paid(amount=amount):
                self.paid, self.status = amount, "paid"
            case Shipped():
                self.status = "shipped"
            case Cancelled():
                self.status = "cancelled"
            case _:
                raise TypeError(f"Order cannot apply {type(event).__name__}")
        self.version += 1

    @classmethod
    def replay(cls, order_id: str, events: list[Event], start: Order | None = None) -> Order:
        order = start or cls(order_id)
        for event in events:
            order.apply(event)
        return order

    # --- commands (decide, then record) -----------------------------------------------------------

    def create(self, customer: str) -> list[Event]:
        if self.status != "new":
            raise DomainError(f"order {self.id} already exists")
        return [OrderCreated(customer)]

    def add_item(self, sku: str, quantity: int, unit_price: int) -> list[Event]:
        self._require("open", "add items")
        if quantity <= 0 or unit_price < 0:
            raise DomainError("quantity must be positive and price not negative")
        if sku in self.lines and self.lines[sku][1] != unit_price:
            raise DomainError(f"{sku} is already in the order at {self.lines[sku][1]}; one price per line")
        return [ItemAdded(sku, quantity, unit_price)]

    def remove_item(self, sku: str, quantity: int) -> list[Event]:
        self._require("open", "remove items")
        held = self.lines.get(sku, (0, 0))[0]
        if quantity <= 0 or quantity > held:
            raise DomainError(f"cannot remove {quantity} of {sku}: the order holds {held}")
        return [ItemRemoved(sku, quantity)]

    def pay(self, amount: int) -> list[Event]:
        self._require("open", "pay")
        if not self.lines or amount != self.total:
            raise DomainError(f"payment must equal the total {self.total} of a non-empty order, got {amount}")
        return [Paid(amount)]

    def ship(self, carrier: str) -> list[Event]:
        self._require("paid", "ship")
        return [Shipped(carrier)]

    def cancel(self, reason: str) -> list[Event]:
        if self.status in ("shipped", "cancelled", "new"):
            raise DomainError(f"a {self.status} order cannot be cancelled")
        return [Cancelled(reason)]

    def compensate_to(self, past: Order) -> list[Event]:
        """Events that bring the lines back to how they were in `past`: "rollback" without deleting.

        History keeps both the mistake and its correction, which is the audit trail's point.
        """
        self._require("open", "roll back")
        events: list[Event] = []
        for sku in sorted(set(self.lines) | set(past.lines)):
            now_q, now_p = self.lines.get(sku, (0, 0))
            then_q, then_p = past.lines.get(sku, (0, now_p))
            if now_q > then_q:
                events.append(ItemRemoved(sku, now_q - then_q))
            elif then_q > now_q:
                events.append(ItemAdded(sku, then_q - now_q, then_p))
        return events

    def _require(self, status: str, action: str) -> None:
        if self.status != status:
            raise DomainError(f"cannot {action}: order {self.id} is {self.status}, not {status}")
