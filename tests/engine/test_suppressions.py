"""Suppressions an operator manages (seed 002: "suppression is critical"): added and removed
through the engine's commands, with where and when each came from; a removal makes the contact
reconsidered on the next run; Reclaim events of suppressed contacts are not sent unless the
destination says so. Against the Segment sandbox on 127.0.0.1.

(A suppression added after a contact was queued stops that row if it has not left yet:
`test_a_suppression_imported_after_queueing_stops_the_queued_row` in test_delivery.py.)"""

from __future__ import annotations

from console.core.identity import email_md5
from console.engine.commands import Commands
from state.db import Store
from state.summary import summary_page
from state.suppression_list import suppression_count, suppressions_page
from tests.engine.test_delivery import (
    Files,
    Sandbox,
    configure,
    event,
    files,
    identified,
    people,
    run,
)

__all__ = ["files"]  # the fixture, shared with test_delivery.py

ANN = email_md5("user1@example.com")


async def test_a_removed_suppression_is_reconsidered_on_the_next_run(
    store: Store, files: Files, segment_sandbox: Sandbox
) -> None:
    sandbox, url = segment_sandbox
    files.contacts(people(1, 2))
    Commands(store).add_suppressions([ANN], "added by test@host")
    configure(store, url)
    first = await run(store)
    assert identified(sandbox) == ["user2@example.com"]
    assert first.counts.suppressed == 1

    assert Commands(store).remove_suppressions([ANN, email_md5("nobody@example.com")]) == [ANN]
    with store.read() as conn:
        assert suppression_count(conn) == 0
    await run(store)
    # user1 now; user2 is not sent twice (its messageId was queued already).
    assert identified(sandbox) == ["user2@example.com", "user1@example.com"]


async def test_reclaim_events_of_suppressed_contacts_follow_the_setting(
    store: Store, files: Files, segment_sandbox: Sandbox
) -> None:
    sandbox, url = segment_sandbox
    files.contacts(people(1, 2))
    files.events([event(1), event(2)])
    files.suppressions("user1@example.com\n")
    configure(store, url)
    result = await run(store)
    sent = [m["messageId"] for m in sandbox.received if m["type"] == "track"]
    assert sent == ["evt-2"]  # the default: not sent
    assert result.counts.suppressed == 2  # user1 as a contact and its event
    with store.read() as conn:
        (today,) = summary_page(conn, "seg")
    assert today.suppressed == 2
    assert (today.completions, today.contacts, today.events) == (2, 1, 1)  # user2 and evt-2

    configure(store, url, reclaim_suppressed=True)  # the events held back are reconsidered
    await run(store)
    sent = [m["messageId"] for m in sandbox.received if m["type"] == "track"]
    assert sent == ["evt-2", "evt-1"]


async def test_each_suppression_says_where_and_when_it_came_from(
    store: Store, files: Files
) -> None:
    files.suppressions("user1@example.com\n")
    Commands(store).add_suppressions([email_md5("user2@example.com")], "added by test@host")
    with store.read() as conn:
        rows = {row.email_md5: row for row in suppressions_page(conn)}
        assert [r.email_md5 for r in suppressions_page(conn, ANN[:6])] == [ANN]
    assert rows[ANN].source is not None and rows[ANN].source.endswith(".csv")
    assert rows[email_md5("user2@example.com")].source == "added by test@host"
    assert all(row.added_at for row in rows.values())
