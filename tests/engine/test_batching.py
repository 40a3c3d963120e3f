"""Batches within Segment's limits: 500 KB and 2,500 messages a request, envelope included, and
32 KB a message. A message over 32 KB is a local, permanent failure with a clear reason that is
never sent; the real sandbox on 127.0.0.1 confirms that every batch built is accepted."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import httpx
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from console import ingest
from console.core.vocab import OutboxStatus
from console.destinations.base import Outcome, OutgoingRow
from console.destinations.segment.adapter import (
    MAX_BATCH_BYTES,
    MAX_BATCH_MESSAGES,
    SegmentAdapter,
    batch_body,
    split_into_requests,
)
from console.destinations.segment.settings import SegmentSettings
from console.engine.destinations import get_destination, save_destination
from console.engine.options import EngineOptions
from console.engine.runner import run_destination
from console.sandbox import SegmentSandbox
from state.db import Store
from state.failures import FailureFilter, failures_page
from state.models import Event, OutboxRow
from state.summary import daily_summary

OUTBOX = OutboxRow.__table__
EVENTS = Event.__table__
SEGMENT_LIMIT_BYTES = 500 * 1024
SANDBOX_WRITE_KEY = "test-write-key"  # what the shared `segment_sandbox` fixture accepts


def row(n: int, size: int) -> OutgoingRow:
    """An outbox row whose payload is a valid JSON message of exactly `size` bytes."""
    head = {"type": "track", "event": "E", "anonymousId": f"a{n}", "messageId": f"m{n}", "p": ""}
    pad = size - len(orjson.dumps(head))
    assert pad >= 0, size
    payload = orjson.dumps(head | {"p": "x" * pad})
    assert len(payload) == size
    return OutgoingRow(n, "track", f"m{n}", None, payload)


def check_groups(rows: Sequence[OutgoingRow], groups: list[list[OutgoingRow]]) -> None:
    """Every request body within the limits, rows in order, none lost or repeated, and no
    request cut short while the next row would still have fitted."""
    assert [r.id for group in groups for r in group] == [r.id for r in rows]
    for index, group in enumerate(groups):
        assert group, "an empty request"
        body = batch_body(group)
        assert len(body) <= SEGMENT_LIMIT_BYTES
        assert len(group) <= MAX_BATCH_MESSAGES
        parsed = orjson.loads(body)
        assert [m["messageId"] for m in parsed["batch"]] == [r.message_id for r in group]
        assert isinstance(parsed["sentAt"], str)
        if index + 1 < len(groups):
            grown = [*group, groups[index + 1][0]]
            # Greedy: the next row did not fit (the envelope estimate may leave a few bytes).
            assert len(group) == MAX_BATCH_MESSAGES or len(batch_body(grown)) > (
                SEGMENT_LIMIT_BYTES - 64
            )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(st.integers(80, 400), st.integers(400, 32 * 1024)), min_size=0, max_size=120)
)
def test_split_never_exceeds_segment_limits(sizes: list[int]) -> None:
    rows = [row(n, size) for n, size in enumerate(sizes, 1)]
    groups = split_into_requests(rows)
    check_groups(rows, groups)
    assert (groups == []) == (rows == [])


def test_many_small_messages_are_cut_at_2500() -> None:
    rows = [row(n, 80) for n in range(1, 6002)]
    groups = split_into_requests(rows)
    assert [len(g) for g in groups] == [2500, 2500, 1001]
    check_groups(rows, groups)


def test_messages_at_the_32_kb_limit_fill_a_request_to_500_kb() -> None:
    rows = [row(n, 32 * 1024) for n in range(1, 41)]
    groups = split_into_requests(rows)
    # 15 messages of 32,768 bytes and their commas and envelope: 491,583 bytes; 16 would not fit.
    assert [len(g) for g in groups] == [15, 15, 10]
    check_groups(rows, groups)
    assert MAX_BATCH_BYTES == SEGMENT_LIMIT_BYTES


async def test_the_sandbox_accepts_every_request_built(
    segment_sandbox: tuple[SegmentSandbox, str],
) -> None:
    sandbox, url = segment_sandbox
    rows = [row(n, 32 * 1024 - (n % 7) * 300) for n in range(1, 41)]
    rows += [row(n, 120) for n in range(41, 5100)]
    adapter = SegmentAdapter(url, SANDBOX_WRITE_KEY)
    async with httpx.AsyncClient() as client:
        result = await adapter.send(client, rows)
    assert {o.outcome for o in result.outcomes} == {Outcome.DELIVERED}
    assert sorted(o.row_id for o in result.outcomes) == [r.id for r in rows]
    assert result.requests == len(split_into_requests(rows)) == sandbox.batches
    assert sandbox.message_count == len(rows) == len(sandbox.message_ids)


async def test_an_oversized_row_already_queued_fails_alone_with_the_receivers_words(
    segment_sandbox: tuple[SegmentSandbox, str],
) -> None:
    """Belt and braces: should an oversized row reach the adapter, the receiver's 400 fails it
    alone and its batch neighbours are delivered."""
    sandbox, url = segment_sandbox
    rows = [row(1, 500), row(2, 40 * 1024), row(3, 500)]
    adapter = SegmentAdapter(url, SANDBOX_WRITE_KEY)
    async with httpx.AsyncClient() as client:
        result = await adapter.send(client, rows)
    by_id = {o.row_id: o for o in result.outcomes}
    assert by_id[1].outcome is Outcome.DELIVERED and by_id[3].outcome is Outcome.DELIVERED
    assert by_id[2].outcome is Outcome.FAILED
    assert by_id[2].http_status == 400
    assert "message too large" in (by_id[2].feedback or "")
    assert set(sandbox.message_ids) == {"m1", "m3"}


async def test_an_oversized_message_is_a_local_failure_never_sent(
    store: Store, tmp_path: Path, segment_sandbox: tuple[SegmentSandbox, str]
) -> None:
    sandbox, url = segment_sandbox
    # A contact the importer accepts (extra_data just under 32 KB) whose identify is over 32 KB.
    contacts = tmp_path / "contacts.jsonl"
    contacts.write_bytes(
        orjson.dumps({"email": "big@example.com", "extra_data": {"notes": "n" * 32_600}})
        + b"\n"
        + orjson.dumps({"email": "small@example.com"})
        + b"\n"
    )
    assert ingest.import_contacts(store, contacts).rejected == 0
    # An event of 41 KB that reached the store by other means than the importer.
    with store.write() as conn:
        conn.execute(
            EVENTS.insert().values(
                message_id="evt-huge",
                event="Viewed Product Reclaim",
                email="huge@example.com",
                properties=orjson.dumps({"blob": "x" * 41_000}).decode(),
                timestamp="2024-04-16T16:54:23.497Z",
            )
        )
        save_destination(conn, "seg", SegmentSettings(write_key=SANDBOX_WRITE_KEY, endpoint=url))
        destination = get_destination(conn, "seg")
    assert destination is not None

    result = await run_destination(store, destination, "manual", EngineOptions(max_wait_seconds=2))

    assert result.status == "partial"
    assert (result.counts.delivered, result.counts.rejected, result.queued) == (1, 2, 0)
    sent = {m.get("traits", {}).get("email") or m.get("email") for m in sandbox.received}
    assert sent == {"small@example.com"}
    with store.read() as conn:
        failures = {f.email: f for f in failures_page(conn, FailureFilter(destination="seg"))}
        statuses = dict(conn.execute(select(OUTBOX.c.email, OUTBOX.c.status)).all())
        summary = daily_summary(conn, "seg")
    assert statuses == {
        "big@example.com": OutboxStatus.FAILED,
        "huge@example.com": OutboxStatus.FAILED,
        "small@example.com": "delivered",
    }
    huge = failures["huge@example.com"]
    assert huge.kind == "track"
    assert huge.feedback is not None
    assert huge.feedback.startswith("message is 40.")
    assert huge.feedback.endswith("over Segment's 32 KB limit for one message")
    assert (huge.http_status, huge.attempts) == (None, 0)
    big = failures["big@example.com"]
    assert big.kind == "identify"
    assert "over Segment's 32 KB limit" in (big.feedback or "")
    assert [(s.completions, s.failures, s.queued) for s in summary] == [(1, 2, 0)]
