"""Reference solutions for notebook 04: the aggregate's own command, an upcaster, a replay-safe projection."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from course_lib.events.domain import Event, ItemAdded, ItemRemoved, Order
from course_lib.events.store import RecordedEvent


def cancel_order(order: Order, reason: str) -> list[Event]:
    return order.cancel(reason)


def upcast_legacy_item(data: dict[str, Any]) -> dict[str, Any]:
    # Decimal, not float: float("0.29") * 100 is 28.999999999999996, and int() makes it 28.
    return {"sku": data["sku"], "quantity": data["qty"], "unit_price": int(Decimal(data["price"]) * 100),
            "currency": data["cur"].upper()}


def replay_safe_projection(read_model: dict[str, dict[str, int]], r: RecordedEvent) -> None:
    row = read_model.setdefault(r.stream_id, {"version": 0, "items": 0})
    if r.version <= row["version"]:  # seen already: a redelivered batch or a replay
        return
    match r.decode():
        case ItemAdded(quantity=q):
            row["items"] += q
        case ItemRemoved(quantity=q):
            row["items"] -= q
    row["version"] = r.version
