"""One run of one destination: lease, plan, deliver (`delivery.py`), record History.

The same coroutine serves the console's scheduler, its "run now" and `--run-once`. Database
work runs in a worker thread so an event loop shared with the UI never stalls on SQLite.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from console.core import clock
from console.core.secrets import SecretError
from console.core.vocab import RunStatus
from console.destinations import registry
from console.destinations.base import DestinationHalted
from console.destinations.http import engine_client
from console.engine import alerts
from console.engine.delivery import deliver, queued_count
from console.engine.destinations import DestinationRecord, list_destinations
from console.engine.leases import join_workers, keep_lease, take_lease
from console.engine.options import EngineOptions
from console.engine.planning import plan_chunks
from console.engine.progress import DELIVERING, PLANNING, POLLING, RunProgress, tell
from console.engine.runs import RunCounts, finish_run
from console.engine.sessions import run_context
from state.db import Store, StoreFailed
from state.runs import (
    abandon_lease,
    close_run,
    close_runs_of_ended_processes,
    owner_id,
    release_lease,
    set_run_message,
    start_run,
)
from state.sharing import WorkerLocks, is_shared_store

log = logging.getLogger("retention_console.engine")


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
    if locks is not None:
        await asyncio.to_thread(locks.own_run, run_id)
    log.info("%s: run %d started (%s)", destination.name, run_id, trigger)
    # A worker holds no lease to renew: its locks live as long as its connection.
    heartbeat = (
        asyncio.create_task(keep_lease(store, destination.id, owner)) if locks is None else None
    )
    counts = RunCounts()
    progress = RunProgress(destination.name)
    tell(options.progress, progress)
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
                tell(options.progress, progress)

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
        tell(options.progress, progress)
        await deliver(
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
