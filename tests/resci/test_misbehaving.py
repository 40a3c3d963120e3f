"""ReSci's real-time calls against a receiver that misbehaves (issue 15, items 6 to 8): a key
revoked part-way through a batch, a 2xx without ReSci's documented `{"id"}`, a redirect."""

from __future__ import annotations

from tests.resci.conftest import Console, Resci
from tests.resci.test_events import events_only, track


def purchases(count: int) -> list[dict[str, object]]:
    return [track(n, "Checkout Started Reclaim", email=f"buyer{n}@gmail.com") for n in range(count)]


async def test_events_accepted_before_a_401_are_booked_and_never_sent_twice(
    console: Console, resci: Resci
) -> None:
    console.apply(events_only(resci))
    console.events(purchases(10))
    resci.sandbox.faults.update({"refuse_after": 5})  # the key is revoked after 5 calls
    halted = await console.run()
    assert halted.status == "failed" and "refused the API key" in halted.message
    accepted = len(resci.sandbox.events)
    assert accepted >= 5
    assert halted.counts.delivered == accepted
    # The key is fixed: only the events ReSci did not take go again.
    resci.sandbox.faults.update({"refuse_after": 0})
    again = await console.run()
    assert again.status == "ok", again.line()
    assert len(resci.sandbox.events) == 10
    assert sorted(e["timestamp"] for e in resci.sandbox.events) == sorted(
        str(e["timestamp"]) for e in purchases(10)
    )


async def test_a_2xx_without_resci_id_is_retried_not_delivered(
    console: Console, resci: Resci
) -> None:
    console.apply(events_only(resci))
    console.events(purchases(2))
    resci.sandbox.faults.update({"empty_every": 1})
    result = await console.run()
    assert result.counts.delivered == 0
    feedback = {str(r["feedback"]) for r in console.outbox()}
    assert all("not the documented reply: an empty reply (HTTP 200)" in f for f in feedback)


async def test_a_redirect_halts_resci_with_rows_queued(console: Console, resci: Resci) -> None:
    console.apply(events_only(resci))
    console.events(purchases(3))
    resci.sandbox.faults.update({"redirect_every": 1})
    result = await console.run()
    assert result.status == "failed" and "redirects (HTTP 302)" in result.message
    assert {(r["status"], r["attempts"]) for r in console.outbox()} == {("queued", 0)}
    assert result.counts.rejected == 0
