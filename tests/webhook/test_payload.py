"""The body is Retention.com's documented Reclaim webhook shape, mapped from stored Segment-style
properties; the signature is what the package documents, checked by the documented snippet
itself (run from the docstring), so the words and the code cannot drift apart."""

from __future__ import annotations

import re
import textwrap
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

import console.destinations.webhook as webhook_kind
from console.core.vocab import RowKind
from console.destinations.webhook.adapter import SIGNATURE_HEADER, signature_header
from console.destinations.webhook.payload import webhook_body
from console.destinations.webhook.planner import WebhookPlanner
from console.destinations.webhook.settings import WebhookSettings

from .conftest import SECRET

SETTINGS = {"url": "https://hooks.example.com/retention", "secret": SECRET}


def stored(properties: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """An `events` row as the store keeps it."""
    row = {
        "seq": 1,
        "message_id": "ev-1",
        "event": "Add To Cart Reclaim",
        "email": "ann@example.com",
        "anonymous_id": "anon",
        "user_id": None,
        "properties": orjson.dumps(properties).decode(),
        "timestamp": "2024-04-16T16:54:32.697Z",
        "original_timestamp": None,
    }
    row.update(overrides)
    return row


def test_seed_properties_map_onto_the_documented_fields() -> None:
    body = webhook_body(
        stored(
            {
                "Brand": "Brownie",
                "CurrencyPrice": "$64",
                "EventSource": "Reclaim",
                "ImageURL": "https://img.example/2.png",
                "Name": "Berry Compote",
                "Price": "64",
                "ProductID": 4891833341,
                "Quantity": 1,
                "URL": "http://krajcik.test/emerita",
            }
        ),
        revenue_metric="Price",
    )
    assert body == {
        "id": "ev-1",
        "email": "ann@example.com",
        "event_type": "Add To Cart Reclaim",
        "occurred_at": "2024-04-16T16:54:32.697Z",
        "properties": {
            "product_url": "http://krajcik.test/emerita",
            "product_name": "Berry Compote",
            "product_id": "4891833341",
            "product_image_url": "https://img.example/2.png",
            "product_price": "64.00",
            "quantity": "1",
            # The event's other properties, as stored; the mapped keys are not repeated.
            "Brand": "Brownie",
            "CurrencyPrice": "$64",
            "EventSource": "Reclaim",
            "revenue": 64.0,
        },
    }


def test_segment_spec_names_win_and_missing_fields_are_null() -> None:
    body = webhook_body(
        stored(
            {"url": "https://a.example/x", "URL": "https://b.example/y", "price": 8.5, "sku": "S1"},
            timestamp="2024-04-16T18:54:32+02:00",
        )
    )
    properties = body["properties"]
    assert properties["product_url"] == "https://a.example/x"
    assert properties["product_price"] == "8.50" and properties["product_id"] == "S1"
    assert properties["product_name"] is None and properties["quantity"] is None
    assert "URL" not in properties and "revenue" not in properties
    assert body["occurred_at"] == "2024-04-16T16:54:32.000Z"


def test_planner_skips_unnamed_events_filters_domains_and_refuses_emailless() -> None:
    settings = WebhookSettings.model_validate(
        {
            **SETTINGS,
            "reclaim_events": ["Add To Cart Reclaim"],
            "filters": {"email_domains": ["@Example.com"]},
        }
    )
    rows = [
        stored({}, message_id="a"),
        stored({}, message_id="b", event="Viewed Category Reclaim"),
        stored({}, message_id="c", email="bo@other.example"),
        stored({}, message_id="d", email=None),
    ]
    planner = WebhookPlanner()
    assert planner.streams(settings) == ["events"]
    chunk = planner.plan("events", settings, rows, set())
    assert (chunk.skipped, chunk.filtered) == (1, 2)
    (message,) = chunk.messages
    assert (message.kind, message.message_id, message.problem) == (RowKind.EVENT, "a", None)
    assert orjson.loads(message.payload)["id"] == "a"
    open_settings = WebhookSettings.model_validate(SETTINGS)
    (emailless,) = planner.plan("events", open_settings, rows[3:], set()).messages
    assert emailless.problem and "no email" in emailless.problem
    off = WebhookSettings.model_validate({**SETTINGS, "reclaim": False})
    assert planner.streams(off) == []


def documented_verify() -> Any:
    """The verification snippet of the package docstring, run as written."""
    doc = webhook_kind.__doc__ or ""
    block = re.search(r"\n(    import hashlib.*?return hmac\.compare_digest\(.*?\)\n)", doc, re.S)
    assert block, "the package docstring lost its verification snippet"
    namespace: dict[str, Any] = {}
    exec(textwrap.dedent(block.group(1)), namespace)
    return namespace["verify"]


def test_the_documented_snippet_verifies_a_signed_body_and_refuses_tampering() -> None:
    verify = documented_verify()
    body = orjson.dumps(webhook_body(stored({"price": 1})))
    now = int(time.time())
    header = signature_header(SECRET, now, body)
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
    assert verify(SECRET.encode(), header, body)
    assert not verify(SECRET.encode(), header, body.replace(b"ann", b"eve"))
    assert not verify(b"another-secret-0123456789", header, body)
    old = signature_header(SECRET, now - 301, body)
    assert not verify(SECRET.encode(), old, body)  # a replay, outside five minutes
    assert not verify(SECRET.encode(), "v1=" + header.split("v1=")[1], body)
    assert SIGNATURE_HEADER == "X-Retention-Signature"


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"url": "http://hooks.example.com/x"}, "https://"),
        ({"url": "ftp://hooks.example.com/x"}, "https://"),
        ({"url": "https://user:pw@hooks.example.com/x"}, "credentials"),
        ({"secret": "short"}, "at least 16"),
        ({"secret": "env:"}, "env: must be followed"),
        ({"filters": {"states": ["CA"]}}, "Extra inputs"),
    ],
)
def test_settings_refuse_what_would_leak_or_never_work(values: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        WebhookSettings.model_validate({**SETTINGS, **values})


def test_settings_accept_loopback_http_and_env_secrets() -> None:
    for url in ("http://127.0.0.1:8767/hook", "http://localhost/hook", "https://h.example"):
        assert WebhookSettings.model_validate({**SETTINGS, "url": url}).url == url
    settings = WebhookSettings.model_validate({**SETTINGS, "secret": "env:HOOK_SECRET"})
    lines = " ".join(f"{k} {v}" for k, v in webhook_kind.KIND.describe(settings))
    assert "env:HOOK_SECRET" in lines
    literal = WebhookSettings.model_validate(SETTINGS)
    lines = " ".join(f"{k} {v}" for k, v in webhook_kind.KIND.describe(literal))
    assert SECRET not in lines and SECRET[-4:] in lines


def test_the_readme_shows_the_same_snippet() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    doc = webhook_kind.__doc__ or ""
    block = re.search(r"\n(    import hashlib.*?return hmac\.compare_digest\(.*?\)\n)", doc, re.S)
    assert block is not None
    assert f"```python\n{textwrap.dedent(block.group(1))}```" in readme
