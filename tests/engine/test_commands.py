"""The command service, the one writer of what the operator changes: removing a destination
takes its lease first (a run in flight against a slow receiver makes it wait, then refuse,
deleting nothing), ids of removed destinations are never given again, adding refuses a taken
name, and the CLI's retry and the console's are one method."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from console.core.vocab import RowKind
from console.engine.commands import CommandRefused, Commands, DestinationBusy, NoSuchDestination
from console.engine.destinations import get_destination
from console.engine.options import EngineOptions
from console.engine.service import EngineService
from console.sandbox import Faults, SandboxServer, SegmentSandbox
from state.db import Store
from state.failures import FailureFilter, failure_count, failure_ids
from state.history import runs_page
from state.models import Destination, OutboxRow, SyncRun
from state.outbox import Failure, NewRow, queue_rows, record_outcomes
from state.runs import start_run
from tests.engine.test_service import WRITE_KEY, add, add_local_failures, import_contacts

SLOW_REPLY_SECONDS = 3.0  # far past the removal's patience below, even on a busy machine


def rows_of(store: Store, name: str) -> tuple[int, int]:
    """(outbox rows, runs) recorded for the destination called `name`."""
    with store.read() as conn:
        destination = get_destination(conn, name)
        assert destination is not None
        outbox = conn.execute(
            select(func.count()).where(OutboxRow.destination_id == destination.id)
        ).scalar_one()
        runs = conn.execute(
            select(func.count()).where(SyncRun.destination_id == destination.id)
        ).scalar_one()
    return outbox, runs


async def until(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


async def test_removal_waits_for_a_run_in_flight_then_refuses_and_deletes_nothing(
    store: Store, tmp_path: Path
) -> None:
    sandbox = SegmentSandbox(
        write_keys={WRITE_KEY}, faults=Faults(delay_seconds=SLOW_REPLY_SECONDS)
    )
    with SandboxServer(sandbox, port=0) as server:
        add(store, "seg", server.url)
        import_contacts(store, tmp_path, "ann@example.com", "bob@example.com")
        engine = EngineService(
            store,
            EngineOptions(max_wait_seconds=2),
            commands=Commands(store, remove_wait_seconds=0.4),
        )
        run = asyncio.create_task(engine.run_now("seg"))
        # The run holds the lease and its batch is at the receiver, waiting for the slow reply.
        await until(lambda: sandbox.requests >= 1)
        before = rows_of(store, "seg")
        assert before[0] == 2

        started = time.monotonic()
        with pytest.raises(DestinationBusy) as refused:
            await asyncio.to_thread(engine.remove_destination, "seg")
        waited = time.monotonic() - started

        assert 0.4 <= waited < SLOW_REPLY_SECONDS
        assert str(refused.value).startswith("destination seg is being delivered by ")
        assert str(refused.value).endswith("; try again when the run ends")
        assert rows_of(store, "seg") == before  # queue and history untouched
        assert not run.done()

        result = await run
        assert (result.status, result.counts.delivered) == ("ok", 2)
        await asyncio.to_thread(engine.remove_destination, "seg")

    with store.read() as conn:
        assert get_destination(conn, "seg") is None
        assert conn.execute(select(func.count()).select_from(OutboxRow)).scalar_one() == 0
        assert runs_page(conn, "seg") == []


async def test_removal_waits_for_a_short_run_and_then_removes(store: Store, tmp_path: Path) -> None:
    """A run that ends within the removal's patience: the removal waits for it, then deletes."""
    sandbox = SegmentSandbox(write_keys={WRITE_KEY}, faults=Faults(delay_seconds=0.5))
    with SandboxServer(sandbox, port=0) as server:
        add(store, "seg", server.url)
        import_contacts(store, tmp_path, "ann@example.com")
        engine = EngineService(
            store,
            EngineOptions(max_wait_seconds=2),
            commands=Commands(store, remove_wait_seconds=10),
        )
        run = asyncio.create_task(engine.run_now("seg"))
        await until(lambda: sandbox.requests >= 1)

        await asyncio.to_thread(engine.remove_destination, "seg")

        # The removal went through once the run released its lease, at its very end.
        assert (await run).counts.delivered == 1
    with store.read() as conn:
        assert get_destination(conn, "seg") is None


def test_removing_an_unknown_destination_is_refused(store: Store) -> None:
    with pytest.raises(NoSuchDestination, match="no destination named 'nope'"):
        Commands(store).remove_destination("nope")


def test_a_removed_destination_id_is_never_given_again(store: Store) -> None:
    """A late run holding a removed destination's id can never write into a new destination."""
    add(store, "first", "http://127.0.0.1:9")
    add(store, "second", "http://127.0.0.1:9")
    with store.read() as conn:
        second = get_destination(conn, "second")
    assert second is not None

    Commands(store).remove_destination("second")
    add(store, "third", "http://127.0.0.1:9")

    with store.read() as conn:
        third = get_destination(conn, "third")
        ids = list(conn.execute(select(Destination.id).order_by(Destination.id)).scalars())
    assert third is not None and third.id > second.id
    assert second.id not in ids


def test_adding_refuses_a_taken_name_and_a_changed_kind(store: Store) -> None:
    from console.destinations.resci.settings import ResciSettings
    from console.destinations.segment.settings import SegmentSettings

    commands = Commands(store)
    saved = commands.save_destination("seg", SegmentSettings(write_key=WRITE_KEY), create=True)
    assert saved.created
    with pytest.raises(CommandRefused, match="'seg' exists already") as taken:
        commands.save_destination("seg", SegmentSettings(write_key="other"), create=True)
    assert taken.value.field == "name"
    with pytest.raises(CommandRefused, match="is a segment destination") as kind:
        commands.save_destination("seg", ResciSettings(api_key="k", site_id="1"))
    assert kind.value.field == "kind"
    assert commands.save_destination("seg", SegmentSettings(write_key="new")) == type(saved)(
        saved.id, False
    )


async def test_the_cli_retry_and_the_console_retry_requeue_through_one_method(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`retention-console retry` re-queues through `Commands.requeue`, as the console's retry
    (`EngineService.retry`) does before it delivers; the CLI sends nothing and records no run."""
    from click.testing import CliRunner

    from console.cli import main

    calls: list[str] = []
    requeue = Commands.requeue

    def spy(self: Commands, row_ids: list[int]) -> object:
        calls.append(f"{len(row_ids)} rows")
        return requeue(self, row_ids)

    monkeypatch.setattr(Commands, "requeue", spy)
    add(store, "seg", "http://127.0.0.1:9")
    add_local_failures(store, "seg", 3)
    with store.read() as conn:
        runs_before = len(runs_page(conn, "seg"))

    result = CliRunner().invoke(main, ["--db", str(store.path), "retry", "--destination", "seg"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "3 failures queued again"
    assert calls == ["3 rows"]
    with store.read() as conn:
        assert failure_count(conn) == 0
        assert len(runs_page(conn, "seg")) == runs_before
    assert rows_of(store, "seg")[0] == 3

    add(store, "other", "http://127.0.0.1:9")
    add_local_failures(store, "other", 2)
    with store.read() as conn:
        ids = failure_ids(conn, FailureFilter(destination="other"))
    # Without delivering (the receiver is not there), the console's path re-queues the same way.
    assert (await EngineService(store).retry(ids, deliver=False)).count == 2
    assert calls == ["3 rows", "2 rows"]


# --- a retry never sends a contact's stale state ---------------------------------------------


def _two_versions(store: Store, newer: str) -> tuple[int, int]:
    """Ann's two identify rows on "seg", the older failed and the newer recorded as `newer`
    (delivered or failed); returns (older id, newer id)."""
    add(store, "seg", "http://127.0.0.1:9")
    rows = [
        NewRow(RowKind.IDENTIFY, f"rc-ann-v{n}", "ann@example.com", b"{}", None) for n in (1, 2)
    ]
    with store.write() as conn:
        destination = get_destination(conn, "seg")
        assert destination is not None
        run_id = start_run(conn, destination.id, "manual")
        queue_rows(conn, destination.id, run_id, rows)
        older, newest = conn.execute(select(OutboxRow.id).order_by(OutboxRow.id)).scalars()
        delivered = [newest] if newer == "delivered" else []
        failures = [Failure(older, 400, "bad")] + (
            [] if delivered else [Failure(newest, 400, "bad")]
        )
        record_outcomes(
            conn,
            destination.id,
            run_id,
            datetime(2024, 4, 16, 16, 54, tzinfo=UTC),
            delivered=delivered,
            retries=[],
            failures=failures,
        )
    return older, newest


def test_retrying_an_old_state_after_a_newer_was_delivered_is_refused_with_the_reason(
    store: Store,
) -> None:
    older, _ = _two_versions(store, "delivered")

    requeued = Commands(store).requeue([older])

    assert requeued.count == 0 and requeued.destination_ids == []
    assert requeued.refused == {
        older: "a newer version of this contact was delivered on 2024-04-16 16:54 UTC"
    }
    assert requeued.refused_line() == (
        "1 not retried: a newer version of this contact was delivered on 2024-04-16 16:54 UTC"
    )
    with store.read() as conn:
        assert failure_count(conn) == 1  # still a failure, shown with the others


def test_retrying_both_failed_versions_requeues_both(store: Store) -> None:
    older, newest = _two_versions(store, "failed")

    requeued = Commands(store).requeue([older, newest])

    assert (requeued.count, requeued.refused) == (2, {})


def test_the_cli_retry_says_how_many_were_refused_and_why(store: Store) -> None:
    from click.testing import CliRunner

    from console.cli import main

    _two_versions(store, "delivered")

    result = CliRunner().invoke(main, ["--db", str(store.path), "retry"])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "0 failures queued again",
        "1 not retried: a newer version of this contact was delivered on 2024-04-16 16:54 UTC",
    ]


def test_a_destination_the_save_creates_is_a_draft_until_switched_on(store: Store) -> None:
    """Issue 12: a new destination sends nothing before the operator switches it on, even when
    the caller asks for it on; an update keeps the switch as asked."""
    from console.destinations.segment.settings import SegmentSettings

    commands = Commands(store)
    saved = commands.save_destination(
        "seg", SegmentSettings(write_key=WRITE_KEY), enabled=True, create=True
    )
    assert saved.created and saved.draft
    with store.read() as conn:
        record = get_destination(conn, "seg")
    assert record is not None and not record.enabled
    assert commands.set_enabled("seg", True)
    again = commands.save_destination("seg", SegmentSettings(write_key="other"), enabled=True)
    assert not again.created and not again.draft
    with store.read() as conn:
        record = get_destination(conn, "seg")
    assert record is not None and record.enabled
