"""EngineService: the APScheduler 3 `AsyncIOScheduler` jobs (one per enabled, unpaused
destination, every `schedule_minutes`), pause and resume, run now, per-destination pause, and
the operator's retry, against a real Segment sandbox on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING

from console import ingest
from console.core.vocab import RowKind
from console.destinations.segment.adapter import identify_message
from console.destinations.segment.settings import SegmentSettings
from console.engine.destinations import get_destination, save_destination
from console.engine.options import EngineOptions
from console.engine.service import EngineEvent, EngineService
from console.sandbox import SegmentSandbox
from state.db import Store
from state.destinations import set_flags
from state.failures import FailureFilter, failure_count, failure_ids, failures_page
from state.history import runs_page
from state.outbox import NewRow, queue_rows
from state.runs import start_run

WRITE_KEY = "test-write-key"  # what the shared `segment_sandbox` fixture accepts
Sandbox = tuple[SegmentSandbox, str]


def add(store: Store, name: str, url: str, minutes: int = 15, **flags: bool) -> None:
    settings = SegmentSettings(write_key=WRITE_KEY, endpoint=url, schedule_minutes=minutes)
    with store.write() as conn:
        destination_id, _ = save_destination(
            conn, name, settings, enabled=flags.get("enabled", True)
        )
        if flags.get("paused"):
            set_flags(conn, destination_id, paused=True)


def import_contacts(store: Store, tmp_path: Path, *emails: str) -> None:
    path = tmp_path / "contacts.jsonl"
    path.write_bytes(b"".join(orjson.dumps({"email": e}) + b"\n" for e in emails))
    assert ingest.import_contacts(store, path).rejected == 0


class Recorder:
    """Collects the service's events and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[EngineEvent] = []
        self.finished = asyncio.Event()

    def __call__(self, event: EngineEvent) -> None:
        self.events.append(event)
        if event.kind == "run-finished":
            self.finished.set()

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


@pytest.fixture
async def service(store: Store) -> AsyncIterator[tuple[EngineService, Recorder]]:
    recorder = Recorder()
    engine = EngineService(store, EngineOptions(max_wait_seconds=2), listener=recorder)
    yield engine, recorder
    engine.shutdown()


def intervals(engine: EngineService) -> dict[str, timedelta]:
    assert engine.scheduler is not None
    return {job.id: job.trigger.interval for job in engine.scheduler.get_jobs()}


async def test_start_schedules_each_enabled_destination_at_its_interval(
    store: Store, service: tuple[EngineService, Recorder], segment_sandbox: Sandbox
) -> None:
    engine, _ = service
    _, url = segment_sandbox
    add(store, "every-5", url, minutes=5)
    add(store, "every-30", url, minutes=30)
    add(store, "disabled", url, minutes=5, enabled=False)
    add(store, "paused", url, minutes=5, paused=True)

    engine.start()

    assert engine.state == "running"
    assert engine.scheduler is not None and engine.scheduler.state == STATE_RUNNING
    assert intervals(engine) == {"every-5": timedelta(minutes=5), "every-30": timedelta(minutes=30)}
    first = engine.next_run_time("every-5")
    assert first is not None
    assert timedelta(0) < first - datetime.now(UTC) <= timedelta(seconds=6)
    assert engine.next_run_time("disabled") is None


async def test_reschedule_follows_a_changed_interval(
    store: Store, service: tuple[EngineService, Recorder], segment_sandbox: Sandbox
) -> None:
    engine, _ = service
    _, url = segment_sandbox
    add(store, "seg", url, minutes=5)
    engine.start()
    add(store, "seg", url, minutes=60)
    add(store, "new", url, minutes=2)

    engine.reschedule()

    assert intervals(engine) == {"seg": timedelta(minutes=60), "new": timedelta(minutes=2)}


async def test_pause_and_resume_the_scheduler(
    store: Store, service: tuple[EngineService, Recorder], segment_sandbox: Sandbox
) -> None:
    engine, recorder = service
    _, url = segment_sandbox
    add(store, "seg", url)
    engine.start()

    engine.pause()

    assert engine.state == "paused"
    assert engine.scheduler is not None and engine.scheduler.state == STATE_PAUSED
    assert engine.next_run_time() is None
    engine.resume()
    assert engine.state == "running"
    assert engine.scheduler.state == STATE_RUNNING
    assert engine.next_run_time() is not None
    assert recorder.kinds().count("state") == 2


async def test_start_paused_runs_nothing_until_resumed(
    store: Store, service: tuple[EngineService, Recorder], segment_sandbox: Sandbox
) -> None:
    engine, _ = service
    _, url = segment_sandbox
    add(store, "seg", url)
    engine.start(paused=True)
    assert engine.state == "paused"
    assert intervals(engine) == {"seg": timedelta(minutes=15)}
    engine.resume()
    assert engine.state == "running"


async def test_set_paused_removes_and_restores_the_job(
    store: Store, service: tuple[EngineService, Recorder], segment_sandbox: Sandbox
) -> None:
    engine, _ = service
    _, url = segment_sandbox
    add(store, "a", url, minutes=5)
    add(store, "b", url, minutes=10)
    engine.start()

    engine.set_paused("a", True)

    assert intervals(engine) == {"b": timedelta(minutes=10)}
    with store.read() as conn:
        record = get_destination(conn, "a")
    assert record is not None and record.paused
    engine.set_paused("a", False)
    assert intervals(engine) == {"a": timedelta(minutes=5), "b": timedelta(minutes=10)}
    engine.set_enabled("b", False)
    assert intervals(engine) == {"a": timedelta(minutes=5)}


async def test_run_now_records_a_manual_run(
    store: Store,
    tmp_path: Path,
    service: tuple[EngineService, Recorder],
    segment_sandbox: Sandbox,
) -> None:
    engine, recorder = service
    sandbox, url = segment_sandbox
    add(store, "seg", url)
    import_contacts(store, tmp_path, "a@example.com", "b@example.com")

    result = await engine.run_now("seg")

    assert (result.status, result.counts.delivered) == ("ok", 2)
    assert len(sandbox.message_ids) == 2
    with store.read() as conn:
        (run,) = runs_page(conn, "seg")
    assert (run.trigger, run.status, run.delivered) == ("manual", "ok", 2)
    assert run.finished_at is not None
    # Between them, the run's progress (at most one a second: the screens reload on each).
    kinds = recorder.kinds()
    assert (kinds[0], kinds[-1]) == ("run-started", "run-finished")
    assert set(kinds[1:-1]) <= {"progress"}
    assert engine.progress["seg"].sent == 2
    assert recorder.events[-1].result is result
    assert engine.running == set()
    missing = await engine.run_now("nope")
    assert (missing.status, missing.message) == ("failed", "no such destination")


async def test_a_due_job_runs_with_the_schedule_trigger(
    store: Store,
    tmp_path: Path,
    service: tuple[EngineService, Recorder],
    segment_sandbox: Sandbox,
) -> None:
    engine, recorder = service
    sandbox, url = segment_sandbox
    add(store, "seg", url)
    import_contacts(store, tmp_path, "a@example.com")
    engine.start()
    assert engine.scheduler is not None

    engine.scheduler.modify_job("seg", next_run_time=datetime.now(UTC))
    await asyncio.wait_for(recorder.finished.wait(), timeout=10)

    with store.read() as conn:
        (run,) = runs_page(conn, "seg")
    assert (run.trigger, run.status, run.delivered) == ("schedule", "ok", 1)
    assert len(sandbox.message_ids) == 1
    # The job is still there for the next interval.
    assert intervals(engine) == {"seg": timedelta(minutes=15)}


async def test_retry_re_queues_failures_and_delivers_them(
    store: Store,
    tmp_path: Path,
    service: tuple[EngineService, Recorder],
    segment_sandbox: Sandbox,
) -> None:
    engine, _ = service
    sandbox, url = segment_sandbox
    sandbox.faults.update({"reject_emails": ["b@example.com"]})
    add(store, "seg", url)
    import_contacts(store, tmp_path, "a@example.com", "b@example.com")
    first = await engine.run_now("seg")
    assert (first.status, first.counts.delivered, first.counts.rejected) == ("partial", 1, 1)
    sandbox.faults.update({"reject_emails": []})
    with store.read() as conn:
        ids = failure_ids(conn, FailureFilter())

    assert (await engine.retry(ids)).count == 1

    with store.read() as conn:
        assert failures_page(conn) == []
        runs = runs_page(conn, "seg")
    assert [r.delivered for r in runs] == [1, 1]
    assert sorted(m["traits"]["email"] for m in sandbox.received) == [
        "a@example.com",
        "b@example.com",
    ]


def add_local_failures(store: Store, name: str, count: int) -> None:
    """`count` identify rows of the destination recorded as failures (refused locally)."""
    rows = []
    for n in range(count):
        email = f"{name}-{n}@example.com"
        contact = {"email": email, "content_hash": f"h{n}", "seq": n + 1}
        message = identify_message(contact, None)
        payload = orjson.dumps(message)
        rows.append(NewRow(RowKind.IDENTIFY, message["messageId"], email, payload, "refused"))
    with store.write() as conn:
        destination = get_destination(conn, name)
        assert destination is not None
        run_id = start_run(conn, destination.id, "manual")
        assert queue_rows(conn, destination.id, run_id, rows) == count


async def test_retry_of_more_than_900_rows_runs_every_destination_they_belong_to(
    store: Store, service: tuple[EngineService, Recorder], segment_sandbox: Sandbox
) -> None:
    """Row ids are looked up in chunks of 900: the destination whose failures all come after
    the first 900 ids is run too."""
    engine, _ = service
    _, url = segment_sandbox
    add(store, "first", url)
    add(store, "second", url)
    add_local_failures(store, "first", 950)
    add_local_failures(store, "second", 5)
    with store.read() as conn:
        ids = sorted(failure_ids(conn, FailureFilter()))
        second_ids = failure_ids(conn, FailureFilter(destination="second"))
    assert len(ids) == 955 and min(second_ids) > ids[899]

    assert (await engine.retry(ids)).count == 955

    with store.read() as conn:
        assert failure_count(conn) == 0
        delivered = {
            name: [(r.trigger, r.delivered) for r in runs_page(conn, name) if r.delivered]
            for name in ("first", "second")
        }
    assert delivered == {"first": [("manual", 950)], "second": [("manual", 5)]}
