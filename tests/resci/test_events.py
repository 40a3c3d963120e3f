"""Enable On-Site: mapped events delivered server-side to the ReSci sandbox, unmapped ones
skipped and counted, events without an email failed locally with the reason."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select

from console.core.vocab import RowKind
from console.destinations.resci.planner import NO_EMAIL
from state.failures import FailureFilter, failures_page
from state.models import DailyStat
from tests.resci.conftest import Console, Resci, contact, destination_toml

STATS = DailyStat.__table__


def track(n: int, name: str, email: str | None = "user1@gmail.com", **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "track",
        "event": name,
        "messageId": f"evt-{n}",
        "anonymousId": f"anon-{n}",
        "properties": {"product_id": f"sku-{n}", "price": 19.5},
        "timestamp": f"2024-04-16T16:54:{n:02d}.697Z",
    }
    if email is not None:
        event["email"] = email
    event.update(extra)
    return event


def events_only(resci: Resci, **changes: Any) -> str:
    """The config without an export (events only); `changes` go to destination_toml."""
    toml = destination_toml(resci.url, **changes)
    start = toml.index("[destinations.export]")
    end = toml.index("[destinations.events]")
    return toml[:start] + toml[end:]


async def test_mapped_events_are_sent_with_their_reserved_names(
    console: Console, resci: Resci
) -> None:
    console.apply(events_only(resci))
    console.events(
        [
            track(1, "Viewed Product Reclaim"),
            track(2, "Checkout Started Reclaim", email="user2@gmail.com"),
            track(3, "Page Scrolled"),  # not mapped
            track(4, "Another Unmapped"),
            track(5, "Viewed Product Reclaim", email=None),  # nobody ReSci can name
        ]
    )
    result = await console.run()
    assert (result.counts.delivered, result.counts.skipped, result.counts.rejected) == (2, 2, 1)
    assert result.status == "partial"  # a local failure is a failure
    # Single calls go several at once, so ReSci may see them in any order.
    assert sorted(resci.sandbox.events, key=lambda e: e["timestamp"]) == [
        {
            "site_id": 4242,
            "event": "view",
            "record_id": hashlib.md5(b"user1@gmail.com").hexdigest(),
            "email": "user1@gmail.com",
            "properties": {"product_id": "sku-1", "price": 19.5},
            "timestamp": "2024-04-16T16:54:01.697Z",
        },
        {
            "site_id": 4242,
            "event": "checkout_success",
            "record_id": hashlib.md5(b"user2@gmail.com").hexdigest(),
            "email": "user2@gmail.com",
            "properties": {"product_id": "sku-2", "price": 19.5},
            "timestamp": "2024-04-16T16:54:02.697Z",
        },
    ]
    with console.store.read() as conn:
        [failure] = failures_page(conn, FailureFilter(destination="resci-main"))
        skipped = conn.execute(select(STATS.c.skipped)).scalar_one()
    assert (failure.kind, failure.email, failure.feedback) == (RowKind.EVENT, None, NO_EMAIL)
    assert skipped == 2

    again = await console.run()
    assert again.counts.delivered == 0 and len(resci.sandbox.events) == 2


async def test_events_flow_while_the_backfill_is_pending(console: Console, resci: Resci) -> None:
    console.contacts([contact(1)])
    console.apply(destination_toml(resci.url))
    console.events([track(1, "Viewed Product Reclaim")])
    result = await console.run()
    assert "queued" in result.message
    assert result.counts.delivered == 1
    assert [e["event"] for e in resci.sandbox.events] == ["view"]
    assert resci.sandbox.user_posts == []


async def test_without_on_site_no_event_is_sent(console: Console, resci: Resci) -> None:
    console.apply(events_only(resci, on_site=False))
    console.events([track(1, "Viewed Product Reclaim")])
    result = await console.run()
    assert result.counts.delivered == 0 and result.counts.skipped == 0
    assert resci.sandbox.events == []


async def test_rate_limited_events_are_retried_and_rejected_ones_fail_with_resci_words(
    console: Console, resci: Resci
) -> None:
    console.apply(events_only(resci))
    resci.sandbox.faults.rate_limit_every = 3
    resci.sandbox.faults.retry_after_seconds = 0.05
    resci.sandbox.faults.reject_emails = {"bad@gmail.com"}
    console.events(
        [track(i, "Viewed Product Reclaim", email=f"user{i}@gmail.com") for i in range(1, 9)]
        + [track(20, "Checkout Started Reclaim", email="bad@gmail.com")]
    )
    result = await console.run()
    assert result.counts.delivered == 8
    assert result.counts.rejected == 1
    assert len(resci.sandbox.events) == 8
    with console.store.read() as conn:
        [failure] = failures_page(conn, FailureFilter(destination="resci-main"))
    assert failure.email == "bad@gmail.com"
    assert failure.http_status == 400
    assert failure.feedback == "rejected: bad@gmail.com is on the sandbox's reject list"
