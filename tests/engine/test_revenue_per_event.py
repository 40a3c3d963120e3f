"""Seed 002's "Revenue metric" per event: a default property plus per-event overrides, since the
seed's Checkout Started carries `cart_amount` while product events carry `Price`. The same rule
in Segment's `track` and the webhook's body, kept through `config export` and `apply`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import SecretStr, ValidationError

from console.config import apply_config, export_config
from console.destinations.segment.planner import SegmentPlanner
from console.destinations.segment.settings import SegmentSettings
from console.destinations.webhook.planner import WebhookPlanner
from console.destinations.webhook.settings import WebhookSettings
from console.engine.destinations import get_destination
from console.ui import mapping_changes as changes
from state.db import Store

CHECKOUT = {"cart_amount": 78.05, "Price": "3", "currency": "USD"}  # seed 002's Checkout Started
PRODUCT = {"Price": "47", "CurrencyPrice": "$47", "Name": "Chocolate Sprinkles"}
OVERRIDES = {"Checkout Started Reclaim": "cart_amount"}


def row(n: int, name: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "seq": n,
        "message_id": f"ev-{n}",
        "event": name,
        "email": "ann@example.com",
        "anonymous_id": "anon",
        "user_id": None,
        "properties": orjson.dumps(properties).decode(),
        "timestamp": "2024-04-16T16:54:32.697Z",
        "original_timestamp": None,
    }


ROWS = [row(1, "Checkout Started Reclaim", CHECKOUT), row(2, "Viewed Product Reclaim", PRODUCT)]


def test_segment_reads_each_events_own_revenue_property() -> None:
    settings = SegmentSettings(
        write_key=SecretStr("w-1234567890"), revenue_metric="Price", revenue_by_event=OVERRIDES
    )
    chunk = SegmentPlanner().plan("events", settings, ROWS, set())
    revenues = [orjson.loads(m.payload)["properties"]["revenue"] for m in chunk.messages]
    assert revenues == [78.05, 47.0]


def test_webhook_reads_each_events_own_revenue_property() -> None:
    settings = WebhookSettings(
        url="https://hooks.example.com/retention",
        secret=SecretStr("a-shared-secret-of-32-characters"),
        revenue_metric="Price",
        revenue_by_event=OVERRIDES,
    )
    chunk = WebhookPlanner().plan("events", settings, ROWS, set())
    revenues = [orjson.loads(m.payload)["properties"]["revenue"] for m in chunk.messages]
    assert revenues == [78.05, 47.0]


def test_overrides_are_checked_and_edited_one_event_at_a_time() -> None:
    with pytest.raises(ValidationError, match="names no revenue property"):
        SegmentSettings(write_key=SecretStr("w-1234567890"), revenue_by_event={"Checkout": " "})
    settings = SegmentSettings(write_key=SecretStr("w-1234567890"), revenue_metric="Price")
    settings = changes.set_event_revenue(settings, " Checkout Started Reclaim ", " cart_amount ")
    assert settings.revenue_by_event == OVERRIDES
    assert (
        changes.set_event_revenue(settings, "Checkout Started Reclaim", "").revenue_by_event == {}
    )
    with pytest.raises(ValueError, match="has no revenue property of its own"):
        changes.set_event_revenue(settings, "Viewed Product Reclaim", "")
    with pytest.raises(ValueError, match="type the event's name"):
        changes.set_event_revenue(settings, " ", "Price")


def test_config_carries_the_overrides(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "destinations.toml"
    path.write_text(
        """
[[destinations]]
name = "segment-main"
kind = "segment"
write_key = "env:SEGMENT_WRITE_KEY"
revenue_metric = "Price"
[destinations.revenue_by_event]
"Checkout Started Reclaim" = "cart_amount"
"""
    )
    apply_config(store, path)
    with store.read() as conn:
        record = get_destination(conn, "segment-main")
    assert record is not None and record.settings.revenue_by_event == OVERRIDES  # type: ignore[union-attr]
    exported = export_config(store)
    assert '[destinations.revenue_by_event]\n"Checkout Started Reclaim" = "cart_amount"' in exported
