"""Fixtures for the console's UI tests: a store filled deterministically through the state and
engine functions (destinations, audiences, two weeks of runs with deliveries and failures), a
clock frozen at 2026-11-20T09:00:00Z (restored afterwards), and an app factory that keeps the
scheduler off so nothing moves under a snapshot."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from console.core import clock
from console.core.operator import OPERATOR_ENV
from console.core.vocab import RowKind, Trigger
from console.destinations.base import Outcome, RowOutcome
from console.destinations.resci.settings import ResciExport, ResciSettings
from console.destinations.segment.adapter import identify_message, track_message
from console.destinations.segment.settings import SegmentFilters, SegmentSettings
from console.engine.destinations import save_destination
from console.engine.retries import RetryPolicy, record_outcomes
from console.engine.runs import RunCounts, finish_run
from console.sandbox import SandboxServer, SegmentSandbox
from console.ui.app import RetentionConsoleApp, make_app
from state.db import Store, open_store
from state.models import Audience, OutboxRow
from state.outbox import NewRow, bump_stats, queue_rows
from state.runs import save_progress, start_run

FROZEN = datetime(2026, 11, 20, 9, 0, 0, tzinfo=UTC)
STORE_LABEL = "/srv/retention/console.db"
SEGMENT_KEY = "seg-live-key-0123456789-AbCd"
RESCI_KEY = "resci-live-key-9876543210-WxYz"
SEGMENT = "segment-prod"
RESCI = "resci-prod"
DAYS = 14
DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "aol.com")


class Clock:
    """A clock the fixtures move (to write history) and put back at FROZEN for the test."""

    def __init__(self) -> None:
        self.moment = FROZEN

    def __call__(self) -> datetime:
        return self.moment


@pytest.fixture(autouse=True)
def fixed_operator(monkeypatch: pytest.MonkeyPatch) -> None:
    """Changes made during a screen test are recorded as one operator on every machine (the
    panel shows `by user@host`, which a snapshot must not take from the host)."""
    monkeypatch.setenv(OPERATOR_ENV, "ops@console-host")


@pytest.fixture(autouse=True)
def ui_clock() -> Iterator[Clock]:
    frozen = Clock()
    clock.set_clock(frozen)
    yield frozen
    clock.set_clock(None)


def contact(n: int) -> dict[str, Any]:
    """A contact row (as `contacts` holds it) for message payloads."""
    domain = DOMAINS[n % len(DOMAINS)]
    return {
        "email": f"customer{n:03d}@{domain}",
        "email_domain": domain,
        "first_name": f"Customer{n}",
        "last_name": None,
        "address_city": "Los Angeles" if n % 3 == 0 else None,
        "address_line_1": None,
        "address_postal": None,
        "address_state": "CA" if n % 3 == 0 else None,
        "landing_page_url": "https://shop.example/sale",
        "landing_page_domain": "shop.example",
        "referrer": None,
        "page_title": None,
        "clicked_at": "2026-11-01T10:00:00.000Z",
        "created_at": "2026-11-01T10:00:00.000Z",
        "updated_at": "2026-11-01T10:00:00.000Z",
        "extra_data": None,
        "anonymous_id": f"anon{n:05d}",
        "content_hash": f"hash{n:05d}",
    }


def event(n: int, name: str) -> dict[str, Any]:
    c = contact(n)
    return {
        "message_id": f"evt-{name[:4].lower()}-{n:05d}",
        "event": name,
        "email": c["email"],
        "anonymous_id": c["anonymous_id"],
        "user_id": None,
        "properties": orjson.dumps({"Name": "Berry Compote", "Price": "64"}).decode(),
        "timestamp": "2026-11-01T10:05:00.000Z",
        "original_timestamp": None,
    }


SEGMENT_FEEDBACK = "rejected: {email} is on the sandbox's reject list"
RESCI_FEEDBACK = "Invalid email address: {email}"


def _rows_for(day: int, kind: str) -> list[NewRow]:
    """5 to 14 messages of one destination on one day, in a fixed pattern."""
    count = 5 + (day * 7) % 10
    rows = []
    for i in range(count):
        n = day * 20 + i
        c = contact(n)
        if kind == "segment":
            if i % 3 == 2:
                message = track_message(event(n, "Viewed Product Reclaim"), "Price")
                rows.append(
                    NewRow(RowKind.TRACK, message["messageId"], c["email"], orjson.dumps(message))
                )
            else:
                message = identify_message(c, "newsletter")
                rows.append(
                    NewRow(
                        RowKind.IDENTIFY, message["messageId"], c["email"], orjson.dumps(message)
                    )
                )
        else:
            body = {"record_id": str(n), "email": c["email"], "full_name": c["first_name"]}
            rows.append(NewRow("import row", f"resci-{n:05d}", c["email"], orjson.dumps(body)))
    return rows


def fill_store(
    store: Store, ui_clock: Clock, segment_endpoint: str = "https://api.segment.io"
) -> None:
    """Destinations, audiences and 14 days of runs; every write goes through state/ and the
    engine's outbox functions, with the clock set to the moment of each run."""
    with store.write() as conn:
        for name, rule in (
            ("california-gmail", "email_domain = 'gmail.com' and address_state = 'CA'"),
            ("vip-customers", "email_domain = 'retention.com'"),
        ):
            conn.execute(
                Audience.__table__.insert().values(name=name, rule=rule, updated_at=clock.now_iso())
            )
        save_destination(
            conn,
            SEGMENT,
            SegmentSettings(
                write_key=SEGMENT_KEY,  # type: ignore[arg-type]
                endpoint=segment_endpoint,
                group_id="newsletter",
                revenue_metric="Price",
                reclaim_events=["Viewed Product Reclaim", "Add To Cart Reclaim"],
                filters=SegmentFilters(email_domains=["gmail.com", "yahoo.com"]),
                schedule_minutes=15,
            ),
        )
        save_destination(
            conn,
            RESCI,
            ResciSettings(
                api_key=RESCI_KEY,  # type: ignore[arg-type]
                api_key_label="Production key",
                api_key_description="export job",
                site_id="4242",
                on_site=True,
                schedule_minutes=30,
                export=ResciExport(
                    audience="california-gmail",
                    fields={"first_name": "full_name", "address_city": "city"},
                ),
                events={"Viewed Product Reclaim": "view", "Add To Cart Reclaim": "shopping_cart"},
            ),
        )
    ids = {SEGMENT: 1, RESCI: 2}
    for back in range(DAYS - 1, -1, -1):
        for name, kind, hour in ((SEGMENT, "segment", 6), (RESCI, "resci", 7)):
            ui_clock.moment = FROZEN - timedelta(days=back) - timedelta(hours=9 - hour)
            _one_run(store, ids[name], name, kind, back, ui_clock)
    # A ReSci run still going at 09:00: History shows its live counts.
    ui_clock.moment = FROZEN - timedelta(seconds=20)
    with store.write() as conn:
        run_id = start_run(conn, ids[RESCI], Trigger.SCHEDULE)
        save_progress(
            conn, run_id, RunCounts(added=50, changed=4, delivered=37, requests=2).as_row()
        )
    ui_clock.moment = FROZEN


def _one_run(
    store: Store, destination_id: int, name: str, kind: str, back: int, ui_clock: Clock
) -> None:
    rows = _rows_for(back, kind)
    trigger = Trigger.MANUAL if back == 3 else Trigger.SCHEDULE
    with store.write() as conn:
        run_id = start_run(conn, destination_id, trigger)
        queue_rows(conn, destination_id, run_id, rows)
        if kind == "segment" and back % 2 == 0:
            bump_stats(conn, destination_id, clock.today(), suppressed=2)
    ui_clock.moment += timedelta(seconds=3 + back % 5)
    with store.write() as conn:
        outbox = OutboxRow.__table__
        queued = conn.execute(
            select(outbox.c.id, outbox.c.email)
            .where(outbox.c.run_id == run_id)
            .order_by(outbox.c.id)
        ).all()
        outcomes = []
        failed = 0
        for index, (row_id, email) in enumerate(queued):
            if back == 0 and index >= len(queued) - 2:
                continue  # today's last two stay queued
            if (index + back) % 4 == 1:
                feedback = (SEGMENT_FEEDBACK if kind == "segment" else RESCI_FEEDBACK).format(
                    email=email
                )
                outcomes.append(RowOutcome(row_id, Outcome.FAILED, 400, feedback))
                failed += 1
            else:
                outcomes.append(RowOutcome(row_id, Outcome.DELIVERED, 200))
        totals = record_outcomes(conn, destination_id, run_id, outcomes, RetryPolicy())
        counts = RunCounts(
            added=len(queued),
            changed=back % 3 if kind == "resci" else 0,
            removed=1 if kind == "resci" and back % 4 == 0 else 0,
            delivered=totals.delivered,
            rejected=totals.failed,
            suppressed=2 if kind == "segment" and back % 2 == 0 else 0,
            requests=1 + failed,
        )
        status = "partial" if totals.failed or back == 0 else "ok"
        message = (
            f"{name}: {status} - {counts.delivered} delivered, {counts.rejected} rejected, "
            f"{2 if back == 0 else 0} queued, {counts.suppressed} suppressed, 0 filtered, "
            f"0 skipped, {counts.requests} requests"
        )
        finish_run(conn, run_id, destination_id, counts, status, message, errored=False)


@pytest.fixture
def ui_store(tmp_path: Path, ui_clock: Clock) -> Iterator[Store]:
    """The filled store (Segment pointed at the real Segment host, never contacted)."""
    store = open_store(tmp_path / "ui.db")
    fill_store(store, ui_clock)
    yield store
    store.dispose()


AppFactory = Callable[..., RetentionConsoleApp]


@pytest.fixture
def ui_app(ui_store: Store) -> AppFactory:
    """`ui_app()` builds the console over the filled store: scheduler off, clock frozen, a
    fixed store label and no blinking caret, so every snapshot is the same."""

    def build(store: Store | None = None, **kwargs: Any) -> RetentionConsoleApp:
        kwargs.setdefault("start_engine", False)
        kwargs.setdefault("clock", lambda: FROZEN)
        kwargs.setdefault("store_label", STORE_LABEL)
        kwargs.setdefault("cursor_blink", False)
        return make_app(store or ui_store, **kwargs)

    return build


@pytest.fixture
def sandbox_store(tmp_path: Path, ui_clock: Clock) -> Iterator[tuple[Store, SegmentSandbox]]:
    """The test store with segment-prod pointed at a live Segment sandbox."""
    sandbox = SegmentSandbox()
    with SandboxServer(sandbox, port=0) as server:
        store = open_store(tmp_path / "sandboxed.db")
        fill_store(store, ui_clock, segment_endpoint=server.url)
        yield store, sandbox
        store.dispose()
