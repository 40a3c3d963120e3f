"""One run of one destination: lease, plan, deliver with retries, record History.

The same coroutine serves the console's scheduler, its "run now" and `--run-once`. Database
work runs in a worker thread so an event loop shared with the UI never stalls on SQLite.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import httpx

from console.core import clock
from console.core.secrets import SecretError
from console.core.vocab import RunStatus
from console.destinations import registry
from console.destinations.base import (
    DestinationAdapter,
    DestinationHalted,
    OutgoingRow,
    SendResult,
)
from console.destinations.http import engine_client
from console.engine import alerts
from console.engine.destinations import DestinationRecord, list_destinations
from console.engine.leases import join_workers, keep_lease, take_lease
from console.engine.ordering import PassOrder
from console.engine.planning import newly_suppressed, plan_chunks
from console.engine.progress import DELIVERING, PLANNING, POLLING, RunProgress
from console.engine.retries import RetryPolicy, record_outcomes
from console.engine.runs import UNHEALTHY_AFTER, RunCounts, finish_run
from console.engine.sessions import run_context
from state import outbox
from state.db import Store, StoreFailed
from state.runs import (
    abandon_lease,
    close_run,
    close_runs_of_ended_processes,
    owner_id,
    release_lease,
    renew_lease,
    save_progress,
    set_run_message,
    start_run,
)
from state.sharing import SLOTS, WorkerLocks, is_shared_store

log = logging.getLogger("retention_console.engine")

SHARED_LOOK_AGAIN_SECONDS = 0.25
"""How soon a worker looks again at due rows in slots other workers hold."""


@dataclass(frozen=True)
class EngineOptions:
    """Knobs of delivery; defaults suit production, tests shorten the waits. The console and
    `--run-once` build them from `console.engine.settings.EngineSettings`."""

    policy: RetryPolicy = RetryPolicy()
    batch_rows: int = 2500
    in_flight: int = 2
    """Batches on the wire at once per destination, so SQLite work overlaps HTTP."""
    max_wait_seconds: float = 60.0
    """How long a run waits for rows whose retry is due soon before it ends."""
    lease_wait_seconds: float = 0.0
    """How long to wait for a destination another engine is working."""
    timeout_seconds: float = 15.0
    unhealthy_after: int = UNHEALTHY_AFTER
    """Consecutive failed runs (nothing delivered, errors) before a destination is unhealthy."""
    unhealthy_probe_seconds: float = 1800.0
    """How often the scheduler still runs an unhealthy destination, to see if it recovered."""
    progress: Callable[[RunProgress], None] | None = field(default=None, compare=False)
    """Told after the plan step and after every recorded batch (the console's panel, the
    CLI's stderr on a terminal); it must not block."""
    history_retention_days: int = 90
    """Delivered rows older than this are pruned by the console's daily job."""
    shared: bool = False
    """Work each destination together with other workers (`--run-once --worker`), slot by
    slot, instead of taking turns through its lease. PostgreSQL only (state/sharing.py);
    on SQLite runs take turns as ever."""


@dataclass
class RunResult:
    destination: str
    status: RunStatus
    counts: RunCounts = field(default_factory=RunCounts)
    queued: int = 0
    message: str = ""
    run_id: int | None = None
    config_error: bool = False

    def line(self) -> str:
        """`name: ok|partial|failed - 1,854 delivered, 21 rejected, ... (notes)`: `failed`
        only for a run that could not work (the why in the parentheses); rows the receiver
        refused are `rejected`."""
        c = self.counts
        return (
            f"{self.destination}: {self.status} - {c.delivered:,} delivered, "
            f"{c.rejected:,} rejected, {self.queued:,} queued, {c.suppressed:,} suppressed, "
            f"{c.filtered:,} filtered, {c.skipped:,} skipped, "
            f"{c.requests:,} request{'' if c.requests == 1 else 's'}"
            + (f" ({self.message})" if self.message else "")
        )

    def reason(self) -> str | None:
        """Why the destination needs an operator, in a few words (None: it does not)."""
        if self.status == RunStatus.OK:
            return None
        if self.status != RunStatus.PARTIAL:
            return self.message or str(self.status)
        parts = list(self.counts.attention)
        if rejected := self.counts.rejected:
            parts.append(f"{rejected:,} row{'' if rejected == 1 else 's'} rejected")
        if self.queued:
            parts.append(f"{self.queued:,} row{'' if self.queued == 1 else 's'} still queued")
        return ", ".join(parts) or str(self.status)


def queued_count(store: Store, destination_id: int, locks: WorkerLocks | None = None) -> int:
    """Rows of the destination still queued; for a worker, those no other worker is sending
    (the rows of slots held by others are theirs to report)."""
    slots = None if locks is None else locks.free_slots()
    with store.read() as conn:
        return outbox.queued_count(conn, destination_id, slots)


async def _deliver(
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
        _tell(options, progress)
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


def _tell(options: EngineOptions, progress: RunProgress) -> None:
    if options.progress is not None:
        try:
            options.progress(progress)
        except Exception:  # a display must never stop a delivery
            log.exception("progress listener failed")


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


async def run_destination(
    store: Store,
    destination: DestinationRecord,
    trigger: str,
    options: EngineOptions | None = None,
    client: httpx.AsyncClient | None = None,
) -> RunResult:
    """Plan and deliver one destination once. Never raises for delivery problems: the result
    and the History row say what happened."""
    options = options or EngineOptions()
    owner = owner_id()
    locks: WorkerLocks | None = None
    if options.shared and is_shared_store(store):
        locks, holder = await join_workers(store, destination.id, options.lease_wait_seconds)
    else:
        holder = await take_lease(store, destination.id, owner, options.lease_wait_seconds)
    if holder is not None:
        log.info("%s: skipped, %s holds its lease", destination.name, holder)
        return RunResult(destination.name, RunStatus.BUSY, message=f"being delivered by {holder}")
    try:
        return await _run(store, destination, trigger, options, client, owner, locks)
    finally:
        if locks is not None:
            # Closing the connection would release them too (as a killed worker's are).
            await asyncio.shield(asyncio.to_thread(locks.release))


async def _run(
    store: Store,
    destination: DestinationRecord,
    trigger: str,
    options: EngineOptions,
    client: httpx.AsyncClient | None,
    owner: str,
    locks: WorkerLocks | None,
) -> RunResult:
    def begin() -> int:
        with store.write() as conn:
            return start_run(conn, destination.id, trigger)

    run_id = await asyncio.to_thread(begin)
    log.info("%s: run %d started (%s)", destination.name, run_id, trigger)
    # A worker holds no lease to renew: its locks live as long as its connection.
    heartbeat = (
        asyncio.create_task(keep_lease(store, destination.id, owner)) if locks is None else None
    )
    counts = RunCounts()
    progress = RunProgress(destination.name)
    _tell(options, progress)
    stopping = threading.Event()
    status, message, errored, config_error = RunStatus.OK, "", False, False
    own_client = client is None
    http = client or engine_client(options.timeout_seconds, max(4, options.in_flight * 2))
    try:
        declared = registry.kind(destination.kind)
        adapter = declared.adapter(destination.settings)
        if declared.poller is not None and (
            locks is None or await asyncio.to_thread(locks.take_polling)
        ):
            context = run_context(store, destination, run_id, counts, http)

            def said(note: str) -> None:
                progress.phase, progress.note = POLLING, note
                _tell(options, progress)

            context.progress = said
            await declared.poller(context)
            if locks is not None:
                await asyncio.to_thread(locks.give_back_polling)
            progress.phase = PLANNING

        async def plan() -> bool:
            """Plan the destination's new rows; True when any were queued. A worker plans only
            while no other does (the others deliver what it queues), and again whenever it
            runs out of rows: what a planner that died left, or rows imported meanwhile."""
            if locks is not None and not await asyncio.to_thread(locks.take_planning):
                return False
            queued_before = counts.added
            step = asyncio.ensure_future(
                asyncio.to_thread(
                    plan_chunks, declared.planner, store, destination, run_id, counts, stopping
                )
            )
            try:
                await asyncio.shield(step)
            except asyncio.CancelledError:
                # The step stops after the transaction it is in; History closes the run with
                # that transaction counted, not before it commits (60,000 added were shown
                # where 80,000 were queued).
                stopping.set()
                await asyncio.wait([step])
                raise
            if locks is not None:
                await asyncio.to_thread(locks.give_back_planning)
            return counts.added > queued_before

        await plan()
        progress.due = await asyncio.to_thread(queued_count, store, destination.id)
        progress.phase, progress.started = DELIVERING, clock.now()
        progress.counted_before = counts.delivered + counts.rejected
        _tell(options, progress)
        await _deliver(
            store,
            destination,
            adapter,
            http,
            run_id,
            owner,
            counts,
            options,
            progress,
            locks,
            plan,
        )
    except (asyncio.CancelledError, StoreFailed) as exc:
        stopping.set()  # a plan step still in its thread ends after its transaction
        # Ended from outside (SIGINT, SIGTERM, the console quitting) or by a store that
        # cannot be written: not the receiver's doing, so no health verdict. The run is closed
        # as interrupted with what committed and the lease given back; if that write fails
        # too, the next start closes it (`close_runs_of_ended_processes`).
        await _close_interrupted(store, destination, run_id, owner, counts, exc)
        raise
    except DestinationHalted as exc:
        status, message, errored = RunStatus.FAILED, str(exc), True
    except SecretError as exc:
        status, message, errored, config_error = RunStatus.FAILED, str(exc), True, True
    except (httpx.TransportError, OSError) as exc:
        status, message, errored = RunStatus.FAILED, f"connection failed: {exc}", True
    except Exception as exc:
        # A bug must not take the scheduler down; History shows it and the log has the trace.
        log.exception("run of %s failed", destination.name)
        status, message, errored = RunStatus.FAILED, f"{type(exc).__name__}: {exc}", True
    finally:
        if heartbeat is not None:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
        if own_client:
            await http.aclose()
    queued = await asyncio.to_thread(queued_count, store, destination.id, locks)
    if status == RunStatus.OK and (counts.rejected or queued or counts.attention):
        status = RunStatus.PARTIAL
        errored = counts.retrying > 0 and counts.delivered == 0
    # What needs the operator (an import job past its limit) is said first.
    message = ", ".join([*counts.attention, *([message] if message else counts.notes)])
    result = RunResult(destination.name, status, counts, queued, message, run_id, config_error)

    def end() -> alerts.PendingAlert | None:
        with store.write() as conn:
            finish_run(
                conn,
                run_id,
                destination.id,
                counts,
                status,
                result.line(),
                errored=errored,
                unhealthy_after=options.unhealthy_after,
            )
            # In the same transaction: of two engines, only the one that changes the
            # destination's alert state sends the alert.
            pending = alerts.decide(conn, destination.id, run_id, status, message, counts, queued)
            release_lease(conn, destination.id, owner)
        return pending

    try:
        pending = await asyncio.to_thread(end)
    except StoreFailed:
        abandon_lease(owner)
        raise
    if pending is not None and (problems := await alerts.send(pending, options.timeout_seconds)):
        # A channel that failed is noted on the run; the delivery stands.
        result.message = "; ".join([*([result.message] if result.message else []), *problems])

        def note() -> None:
            with store.write() as conn:
                set_run_message(conn, run_id, result.line())

        await asyncio.to_thread(note)
    level = logging.INFO if status == RunStatus.OK else logging.WARNING
    log.log(level, "run %d: %s", run_id, result.line())  # the line names the destination
    return result


async def _close_interrupted(
    store: Store,
    destination: DestinationRecord,
    run_id: int,
    owner: str,
    counts: RunCounts,
    why: BaseException,
) -> None:
    reason = "the process was stopped" if isinstance(why, asyncio.CancelledError) else str(why)

    def close() -> None:
        with store.write() as conn:
            close_run(conn, run_id, RunStatus.INTERRUPTED, clock.now_iso(), reason, counts.as_row())
            release_lease(conn, destination.id, owner)

    try:
        # Shielded: a second cancellation (asyncio.run's shutdown) must not cut the closing
        # write short; it is one short transaction.
        await asyncio.shield(asyncio.to_thread(close))
    except StoreFailed:
        abandon_lease(owner)
        log.warning(
            "%s: run %d could not be closed; the next start closes it", destination.name, run_id
        )
    else:
        log.info("%s: run %d interrupted (%s)", destination.name, run_id, reason)


async def run_all(
    store: Store,
    trigger: str,
    options: EngineOptions | None = None,
    names: Sequence[str] | None = None,
) -> list[RunResult]:
    """Run every enabled, unpaused destination (or the named ones) concurrently."""
    with store.write() as conn:
        close_runs_of_ended_processes(conn)
        destinations = list_destinations(conn)
    chosen = [d for d in destinations if (d.name in names if names else d.enabled and not d.paused)]
    left = sorted(d.name for d in destinations if d not in chosen)
    log.debug("run all (%s): %s; left out: %s", trigger, [d.name for d in chosen], left)
    results = await asyncio.gather(*(run_destination(store, d, trigger, options) for d in chosen))
    return list(results)
