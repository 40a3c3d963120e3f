"""One stored event (Segment `track` style) as the body of one webhook POST, in the shape
Retention.com documents for its "Webhook Reclaim" integration:

    {"id": "<messageId>", "email": "ann@example.com", "event_type": "Add To Cart Reclaim",
     "occurred_at": "2024-04-16T16:54:32.697Z",
     "properties": {"product_url": ..., "product_name": ..., "product_id": "6702700412",
                    "product_image_url": ..., "product_price": "8.00", "quantity": "1",
                    ...the event's other properties}}

The six product fields are always present (null when the event carries none of their source
properties) and, as in Retention.com's examples, sent as text. Each takes the first non-empty
of its source properties (`PRODUCT_FIELDS`); those source keys are not repeated, every other
property is passed through as stored. `id` is the event's messageId, the same on every re-send,
so a receiver de-duplicates by it.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from console.core import clock

# Documented field <- the stored properties it is read from, first non-empty wins: the
# webhook's own name, Segment's e-commerce spec name, then the seed's capitalised Reclaim name.
PRODUCT_FIELDS: dict[str, tuple[str, ...]] = {
    "product_url": ("product_url", "url", "URL"),
    "product_name": ("product_name", "name", "Name"),
    "product_id": ("product_id", "sku", "ProductID"),
    "product_image_url": ("product_image_url", "image_url", "ImageURL"),
    "product_price": ("product_price", "price", "Price"),
    "quantity": ("quantity", "Quantity"),
}
_CONSUMED = frozenset(key for keys in PRODUCT_FIELDS.values() for key in keys)
_CURRENCY_MARKS = "$€£¥"


def _amount(value: Any) -> Decimal | None:
    """A number from `8`, `8.5`, `"47"`, `"$1,299.50"`; None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        text = repr(value)
    elif isinstance(value, str):
        text = value.strip().lstrip(_CURRENCY_MARKS).replace(",", "")
    else:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _text(field: str, value: Any) -> str:
    if field == "product_price":
        number = _amount(value)
        if number is not None:
            return f"{number:.2f}"
    elif field == "quantity":
        number = _amount(value)
        if number is not None and number == number.to_integral_value():
            return str(int(number))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a product id read back from JSON as 6702700412.0
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _first(properties: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = properties.get(key)
        if value is not None and value != "":
            return value
    return None


def webhook_body(event: dict[str, Any], revenue_metric: str | None = None) -> dict[str, Any]:
    """The documented body for one `events` row (a dict of the store's columns)."""
    stored = orjson.loads(event["properties"])
    properties: dict[str, Any] = {}
    for field, keys in PRODUCT_FIELDS.items():
        value = _first(stored, keys)
        properties[field] = None if value is None else _text(field, value)
    properties.update((key, value) for key, value in stored.items() if key not in _CONSUMED)
    if revenue_metric and revenue_metric in stored:
        revenue = _amount(stored[revenue_metric])
        if revenue is not None:
            properties["revenue"] = float(revenue)
    return {
        "id": event["message_id"],
        "email": event.get("email"),
        "event_type": event["event"],
        # Stored already as the clock's ISO form; normalised again for rows of older stores.
        "occurred_at": clock.iso(clock.parse_iso(event["timestamp"])),
        "properties": properties,
    }


def body_problem(body: dict[str, Any]) -> str | None:
    """Why a receiver could not use this body, found before anything is queued; None if fine."""
    if not body.get("email"):
        return "no email: a webhook receiver keys Reclaim events by email"
    return None
