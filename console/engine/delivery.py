"""The delivery loop of one run: claim the due outbox rows in id order, send them through the
kind's adapter with a few batches on the wire, record each batch's outcomes, and wait for
retries that fall due within the run's patience.

Per-contact order (`ordering.PassOrder`), the receiver's `Retry-After` holding the whole
destination, a stalled receiver, and workers sharing a destination slot by slot on PostgreSQL
(`state.sharing`) are all kept here; the run around it (lease, plan step, History) is
`runner.py`'s.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import httpx

from console.core import clock
from console.destinations import registry
from console.destinations.base import (
    DestinationAdapter,
    DestinationHalted,
    OutgoingRow,
    SendResult,
)
from console.engine.destinations import DestinationRecord
from console.engine.options import EngineOptions
from console.engine.ordering import PassOrder
from console.engine.planning import newly_suppressed
from console.engine.progress import RunProgress, tell
from console.engine.retries import record_outcomes
from console.engine.runs import RunCounts
from state import outbox
from state.db import Store
from state.runs import renew_lease, save_progress
from state.sharing import SLOTS, WorkerLocks, is_shared_store

SHARED_LOOK_AGAIN_SECONDS = 0.25
"""How soon a worker looks again at due rows in slots other workers hold."""


def queued_count(store: Store, destination_id: int, locks: WorkerLocks | None = None) -> int:
    """Rows of the destination still queued; for a worker, those no other worker is sending
    (the rows of slots held by others are theirs to report)."""
    slots = None if locks is None else locks.free_slots()
    with store.read() as conn:
        return outbox.queued_count(conn, destination_id, slots)


async def deliver(
    store: Store,
    destination: DestinationRecord,
    adapter: DestinationAdapter,
    client: httpx.AsyncClient,
    run_id: int,
    owner: str,
    counts: RunCounts,
    options: EngineOptions,
    progress: RunProgress,
    locks: WorkerLocks | None,
    plan: Callable[[], Awaitable[bool]],
) -> None:
    """Send every due row; wait for retries due within the run's patience; then stop. On
    PostgreSQL rows go slot by slot; a worker (`locks`) sends the slots it can take, waits
    for rows while another worker plans, and `plan`s itself when none does.

    A `Retry-After` (429) holds the whole destination, not only the batch that got it: no
    new batch leaves until it has passed, since each would be refused too and spend an
    attempt of every row in it. A hold past the run's patience ends the run; what was not
    sent stays queued for the next one."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + options.max_wait_seconds
    lock = asyncio.Lock()  # record steps in order, one write transaction at a time
    hold_until = 0.0  # loop time before which no batch leaves (the receiver's Retry-After)
    # The latest batch took the whole request deadline and left every row to retry (a
    # receiver that never answers in time): past the deadline no further batch leaves, so it
    # cannot stretch the run (and its lease) beyond max_wait plus the batches on the wire.
    # A receiver that accepts, or refuses at once, keeps the run going through the backlog.
    stalled = False

    async def send_and_record(rows: Sequence[OutgoingRow], order: PassOrder) -> None:
        nonlocal hold_until, stalled
        started = loop.time()
        try:
            result = await adapter.send(client, rows)
        except DestinationHalted as halt:
            # What came back before the halt is booked (accepted rows are not sent again);
            # the rows without an outcome stay queued, attempts unspent.
            if halt.outcomes:
                result = SendResult(halt.outcomes, halt.requests)
                order.settled(rows, result.outcomes)
                async with lock:
                    await asyncio.to_thread(record, result, rows)
            raise
        slow = loop.time() - started >= options.timeout_seconds
        order.settled(rows, result.outcomes)
        asked = max((o.retry_after or 0.0 for o in result.outcomes), default=0.0)
        if asked > 0:
            if hold_until <= loop.time():
                status = next((o.http_status for o in result.outcomes if o.retry_after), None)
                counts.notes.append(
                    f"the receiver asked to wait {asked:g} s (HTTP {status}, Retry-After); "
                    "sending paused"
                )
            hold_until = max(hold_until, loop.time() + asked)

        async with lock:
            retrying = await asyncio.to_thread(record, result, rows)
        stalled = slow and bool(result.outcomes) and retrying == len(result.outcomes)

    def record(result: SendResult, rows: Sequence[OutgoingRow]) -> int:
        """Books the outcomes; returns how many rows are left to retry. The run's counts
        take them once the transaction committed: History counts only what is stored."""
        booked = RunCounts()
        kinds = {row.id: row.kind for row in rows}
        with store.write() as conn:
            totals = record_outcomes(
                conn, destination.id, run_id, result.outcomes, options.policy, kinds
            )
            booked.delivered = totals.delivered
            booked.rejected = totals.failed
            booked.retrying = totals.retrying
            booked.requests = result.requests
            save_progress(conn, run_id, (counts + booked).as_row())
            renew_lease(conn, destination.id, owner)
        counts.add(booked)
        progress.sent = counts.delivered + counts.rejected - progress.counted_before
        tell(options.progress, progress)
        return totals.retrying

    async def one_pass(slot: int | None) -> Pass:
        """Claim and send every row due now (of one slot, on PostgreSQL), in id order."""
        after_id = 0
        tasks: set[asyncio.Task[None]] = set()
        order = PassOrder(await asyncio.to_thread(_older_versions_waiting, store, destination.id))
        done_pass = Pass(order)
        try:
            while True:
                claimed, last_id = await asyncio.to_thread(
                    _claim, store, destination, after_id, options, order.check_store, counts, slot
                )
                if last_id is None:
                    break
                done_pass.claimed = True
                after_id = last_id
                rows = order.admit(claimed)
                if not rows:
                    continue
                while len(tasks) >= options.in_flight:
                    done, tasks = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                    _raise_first(done)
                if stalled and loop.time() >= deadline:
                    done_pass.held_past_deadline = True  # the claimed rows stay queued
                    break
                if loop.time() < hold_until:
                    if tasks:  # the batches already on the wire finish first
                        done, tasks = await asyncio.wait(tasks)
                        _raise_first(done)
                    if hold_until > deadline:
                        done_pass.held_past_deadline = True  # the claimed rows stay queued
                        break
                    await asyncio.sleep(hold_until - loop.time())
                tasks.add(asyncio.create_task(send_and_record(rows, order)))
            if tasks:
                done, _ = await asyncio.wait(tasks)
                tasks = set()
                _raise_first(done)
        except DestinationHalted:
            # The other batches on the wire finish and record what came back (each within
            # the request deadline) before the run stops: an accepted batch is booked.
            if tasks:
                await asyncio.wait(tasks)
            raise
        finally:
            for task in tasks:
                task.cancel()
            # Collect what the cancelled batches raised, so nothing is left unretrieved.
            await asyncio.gather(*tasks, return_exceptions=True)
        return done_pass

    async def slot_pass(slot: int) -> Pass | None:
        """One pass over a slot, taken first by a worker (None: another worker holds it). The
        slot is given back once every batch of the pass is recorded, never before."""
        if locks is None:
            return await one_pass(slot)
        if not await asyncio.to_thread(locks.take_slot, slot):
            return None
        try:
            return await one_pass(slot)
        finally:
            await asyncio.shield(asyncio.to_thread(locks.give_back_slot, slot))

    # On PostgreSQL even a run alone claims slot by slot: the slot index gives one slot's
    # queued rows in id order, where a claim over them all read and sorted every queued row
    # (270 ms a claim with 80,000 queued; a 200,000-event run took 45 s instead of 22).
    by_slot = locks is not None or is_shared_store(store)
    while True:
        if not by_slot:
            passes = [await one_pass(None)]
        else:
            passes = []
            for slot in _slot_order():
                if (slot_result := await slot_pass(slot)) is not None:
                    passes.append(slot_result)
                    if slot_result.held_past_deadline:
                        break
        if any(p.held_past_deadline for p in passes):
            return
        due = await asyncio.to_thread(_next_due, store, destination.id)
        if due is None and locks is not None:
            if await asyncio.to_thread(locks.planning_elsewhere):
                # Another worker is still queueing rows: they are this one's to share. Not a
                # retry wait, so the run's patience does not bound it (planning ends).
                await asyncio.sleep(SHARED_LOOK_AGAIN_SECONDS)
                continue
            if await plan():
                continue  # the planner died before it was done, or new rows came in
            # The planner's last rows may have been committed after the look above.
            due = await asyncio.to_thread(_next_due, store, destination.id)
        if due is None:
            return
        wait = (clock.parse_iso(due) - clock.now()).total_seconds()
        if wait <= 0 and any(p.order.left_for_next_pass for p in passes):
            continue  # a contact's next version, due now: not a retry to be patient about
        if wait <= 0 and locks is not None and not any(p.claimed for p in passes):
            # What is due sits in slots other workers hold: look again shortly, so the slots
            # of a worker that dies are taken over while the run is patient.
            wait = SHARED_LOOK_AGAIN_SECONDS
        if loop.time() + max(wait, 0) > deadline:
            return
        await asyncio.sleep(max(wait, 0.01))


@dataclass
class Pass:
    """What one pass over the due rows did."""

    order: PassOrder
    claimed: bool = False
    held_past_deadline: bool = False
    """A Retry-After hold or a stalled receiver outlasted the run's patience."""


def _slot_order() -> list[int]:
    """The slots in the order this worker tries them: from a random one on, so workers that
    start together begin on different slots."""
    start = random.randrange(SLOTS)
    return [(start + i) % SLOTS for i in range(SLOTS)]


def _raise_first(done: set[asyncio.Task[None]]) -> None:
    """Raise the first failure among finished batches, after looking at every one of them
    (asyncio logs an error for a task exception nobody retrieved)."""
    errors = [task.exception() for task in done if not task.cancelled()]
    for error in errors:
        if error is not None:
            raise error


def _older_versions_waiting(store: Store, destination_id: int) -> bool:
    with store.read() as conn:
        return outbox.any_retrying_state(conn, destination_id)


def _claim(
    store: Store,
    destination: DestinationRecord,
    after_id: int,
    options: EngineOptions,
    check_store: bool,
    counts: RunCounts,
    slot: int | None = None,
) -> tuple[list[OutgoingRow], int | None]:
    """The next due rows, and the last id claimed (None: nothing due). With `check_store`, a
    contact's newer state whose older one waits for a retry is left out and deferred to that
    retry's time, so the run does not spin on it. With suppression on, a contact's state whose
    email joined the suppression list since it was queued is booked suppressed, never sent."""
    destination_id = destination.id
    with store.read() as conn:
        rows = [
            OutgoingRow(*row)
            for row in outbox.claim_due(conn, destination_id, after_id, options.batch_rows, slot)
        ]
        if not rows:
            return [], None
        suppressed = (
            newly_suppressed(conn, rows)
            if registry.kind(destination.kind).planner.wants_suppressions(destination.settings)
            else []
        )
        gone = set(suppressed)
        left = [row for row in rows if row.id not in gone]
        waiting = (
            outbox.waiting_for_older_versions(conn, destination_id, left) if check_store else {}
        )
    if waiting or suppressed:
        with store.write() as conn:
            outbox.defer_rows(conn, waiting)
            booked = outbox.suppress_rows(conn, destination_id, suppressed)
        counts.suppressed += booked  # once committed
    return [row for row in left if row.id not in waiting], rows[-1].id


def _next_due(store: Store, destination_id: int) -> str | None:
    with store.read() as conn:
        return outbox.next_due(conn, destination_id)
