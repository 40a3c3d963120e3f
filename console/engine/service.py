"""The in-process engine the console owns: an APScheduler 3 `AsyncIOScheduler` that runs each
enabled destination every `schedule_minutes`, plus the operator's actions (run now, pause,
save, remove, retry failures, test connection). It never imports Textual; the UI listens through
`listener`.

Every write goes through `commands` (`console.engine.commands.Commands`, usable without a
scheduler, as the CLI does); this service adds what follows a change: rescheduling, delivering.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from pydantic import BaseModel

from console.core import clock
from console.core.secrets import SecretError
from console.core.vocab import RunStatus, Trigger
from console.destinations import registry
from console.destinations.base import ConnectionTestFailed
from console.destinations.http import engine_client
from console.engine.commands import Commands, Requeued, Saved
from console.engine.destinations import DestinationRecord, get_destination, list_destinations
from console.engine.options import EngineOptions
from console.engine.progress import RunProgress
from console.engine.runner import RunResult, run_destination
from state.db import Store
from state.retention import Pruned
from state.runs import close_runs_of_ended_processes

log = logging.getLogger("retention_console.engine")
PROGRESS_EVERY_SECONDS = 1.0

PRUNE_JOB = "prune-history"
PRUNE_FIRST_DELAY = timedelta(minutes=10)
"""The first prune waits past the console's start, when the operator's first runs go."""


@dataclass(frozen=True)
class EngineEvent:
    """Something the UI may want to redraw for: a run started or finished, state changed."""

    kind: str  # run-started | run-finished | progress | state | schedule
    destination: str | None = None
    result: RunResult | None = None


class EngineService:
    def __init__(
        self,
        store: Store,
        options: EngineOptions | None = None,
        listener: Callable[[EngineEvent], None] | None = None,
        commands: Commands | None = None,
    ) -> None:
        self.store = store
        self.commands = commands or Commands(store)
        self.options = replace(options or EngineOptions(), progress=self._progressed)
        self.progress: dict[str, RunProgress] = {}
        """The latest progress of each destination's run (kept after it ends)."""
        self._progress_told = 0.0
        self.listener = listener
        self.scheduler: AsyncIOScheduler | None = None
        # Housekeeping has its own scheduler: pausing deliveries does not stop the daily
        # prune, and the delivery scheduler's jobs stay one per destination.
        self.maintenance: AsyncIOScheduler | None = None
        self.last_prune: Pruned | None = None
        self.paused = False
        self.running: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._in_flight: set[asyncio.Task[object]] = set()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, *, paused: bool = False) -> None:
        """Start scheduling on the running event loop, after closing the runs a process that
        ended left `running` (History shows them interrupted, not running for ever)."""
        with self.store.write() as conn:
            close_runs_of_ended_processes(conn)
        self.scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone="UTC")
        self.scheduler.start(paused=paused)
        self.paused = paused
        self.reschedule()
        self.maintenance = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone="UTC")
        self.maintenance.add_job(
            self.prune_history,
            "interval",
            days=1,
            id=PRUNE_JOB,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            # APScheduler keeps real time, whatever the console's clock says.
            next_run_time=datetime.now(UTC) + PRUNE_FIRST_DELAY,
        )
        self.maintenance.start()

    def shutdown(self) -> None:
        for scheduler in (self.scheduler, self.maintenance):
            if scheduler is not None and scheduler.running:
                scheduler.shutdown(wait=False)
        self.scheduler = None
        self.maintenance = None

    async def prune_history(self) -> Pruned:
        """The daily job: delivered rows older than `history_retention_days` go (in short
        batches, off the event loop)."""
        days = self.options.history_retention_days
        pruned = await asyncio.to_thread(self.commands.prune, days)
        self.last_prune = pruned
        log.info(
            "pruned %d delivered rows older than %d days in %.1fs",
            pruned.rows,
            days,
            pruned.seconds,
        )
        return pruned

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop scheduling and end the runs in flight (the console quitting, or a signal):
        each closes itself as interrupted, its unbooked rows kept queued, and gives back its
        lease, within `timeout` seconds; a run that cannot is closed by the next start."""
        self.shutdown()
        running = [task for task in self._in_flight if not task.done()]
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running, timeout=timeout)

    @property
    def state(self) -> str:
        if self.scheduler is None:
            return "stopped"
        return "paused" if self.paused else "running"

    def pause(self) -> None:
        if self.scheduler is not None:
            self.scheduler.pause()
        self.paused = True
        log.info("engine paused: no scheduled runs until resumed")
        self._emit(EngineEvent("state"))

    def resume(self) -> None:
        if self.scheduler is not None:
            self.scheduler.resume()
        self.paused = False
        log.info("engine resumed")
        self._emit(EngineEvent("state"))

    # -- schedule --------------------------------------------------------------------------
    def reschedule(self) -> None:
        """Make the jobs match the destinations: one interval job per enabled, unpaused one."""
        if self.scheduler is None:
            return
        with self.store.read() as conn:
            destinations = list_destinations(conn)
        wanted = {d.name: d for d in destinations if d.enabled and not d.paused}
        for job in self.scheduler.get_jobs():
            if job.id not in wanted:
                log.info("%s: unscheduled (disabled, paused or removed)", job.id)
                job.remove()
        for name, destination in wanted.items():
            minutes = destination.schedule_minutes
            job = self.scheduler.get_job(name)
            if job is not None and job.trigger.interval == timedelta(minutes=minutes):
                continue
            log.info("%s: scheduled every %d minutes", name, minutes)
            self.scheduler.add_job(
                self._scheduled_run,
                "interval",
                minutes=minutes,
                id=name,
                args=[name],
                replace_existing=True,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
                next_run_time=clock.now() + timedelta(seconds=5),
            )
        self._emit(EngineEvent("schedule"))

    def next_run_time(self, name: str | None = None) -> datetime | None:
        """When the named destination (or the soonest of all) runs next by schedule."""
        if self.scheduler is None or self.paused:
            return None
        jobs = [self.scheduler.get_job(name)] if name else self.scheduler.get_jobs()
        times = [j.next_run_time for j in jobs if j is not None and j.next_run_time]
        return min(times) if times else None

    async def _scheduled_run(self, name: str) -> None:
        destination = self._load(name)
        if destination is None or not destination.enabled or destination.paused:
            log.debug("%s: scheduled run skipped (gone, disabled or paused)", name)
            return
        if not destination.healthy and destination.last_run_at:
            since = clock.now() - clock.parse_iso(destination.last_run_at)
            probe = timedelta(seconds=self.options.unhealthy_probe_seconds)
            if since < probe:
                # Keep an unhealthy destination from spinning; probe it now and then.
                log.debug("%s: unhealthy, next probe after %s", name, probe - since)
                return
        try:
            await self._run(destination, Trigger.SCHEDULE)
        except asyncio.CancelledError:
            # `stop()`: the run closed itself as interrupted. The job ends quietly (the
            # scheduler would log a cancelled job's "exception" as an error).
            log.info("%s: scheduled run stopped", name)

    # -- operator actions ------------------------------------------------------------------
    async def run_now(self, name: str) -> RunResult:
        destination = self._load(name)
        if destination is None:
            return RunResult(name, RunStatus.FAILED, message="no such destination")
        return await self._run(destination, Trigger.MANUAL)

    def set_paused(self, name: str, paused: bool) -> None:
        if self.commands.set_paused(name, paused):
            self.reschedule()

    def set_enabled(self, name: str, enabled: bool) -> None:
        if self.commands.set_enabled(name, enabled):
            self.reschedule()

    def save_destination(
        self, name: str, settings: BaseModel, *, enabled: bool = True, create: bool = False
    ) -> Saved:
        """Create or update a destination (the form, the mapping screen), then match the
        schedule to it. Blocks: call it off the UI thread. Raises CommandRefused."""
        saved = self.commands.save_destination(name, settings, enabled=enabled, create=create)
        self.reschedule()
        return saved

    def remove_destination(self, name: str) -> None:
        """Remove a destination once no run holds it (see `Commands.remove_destination`), then
        drop its job. Blocks up to the removal's patience; raises DestinationBusy."""
        self.commands.remove_destination(name)
        self.reschedule()

    async def retry(self, row_ids: Sequence[int], *, deliver: bool = True) -> Requeued:
        """Re-queue failed rows; with `deliver`, deliver them at once through their
        destinations (the console), else the next run does (the CLI). Returns how many were
        re-queued and which were refused, with why."""
        requeued = await asyncio.to_thread(self.commands.requeue, row_ids)
        if deliver and requeued.count:
            for destination_id in requeued.destination_ids:
                destination = self._load(destination_id)
                if destination is not None:
                    await self._run(destination, Trigger.MANUAL)
        return requeued

    async def test_connection(self, name: str) -> str:
        """A harmless authenticated call; raises ConnectionTestFailed with plain words."""
        destination = self._load(name)
        if destination is None:
            raise ConnectionTestFailed(f"no destination named {name!r}")
        try:
            adapter = registry.kind(destination.kind).adapter(destination.settings)
        except SecretError as exc:
            raise ConnectionTestFailed(str(exc)) from exc
        async with engine_client(self.options.timeout_seconds) as client:
            return await adapter.test_connection(client)

    # -- internals -------------------------------------------------------------------------
    def _load(self, name_or_id: str | int) -> DestinationRecord | None:
        with self.store.read() as conn:
            return get_destination(conn, name_or_id)

    async def _run(self, destination: DestinationRecord, trigger: str) -> RunResult:
        lock = self._locks.setdefault(destination.name, asyncio.Lock())
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        async with lock:
            self.running.add(destination.name)
            self._emit(EngineEvent("run-started", destination.name))
            try:
                result = await run_destination(self.store, destination, trigger, self.options)
            finally:
                self.running.discard(destination.name)
            self._emit(EngineEvent("run-finished", destination.name, result))
            return result

    def _progressed(self, progress: RunProgress) -> None:
        """A run moved: screens follow it at most once a second (each reads the store)."""
        self.progress[progress.destination] = progress
        now = time.monotonic()
        if now - self._progress_told >= PROGRESS_EVERY_SECONDS:
            self._progress_told = now
            self._emit(EngineEvent("progress", progress.destination))

    def _emit(self, event: EngineEvent) -> None:
        if self.listener is not None:
            try:
                self.listener(event)
            except Exception:  # a listener bug must not stop deliveries
                log.exception("engine listener failed")
