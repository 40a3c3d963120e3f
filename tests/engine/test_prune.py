"""Pruning history: delivered rows older than the retention go, in batches; queued and failed
rows, the daily counters and the runs stay; so does a delivered state row that refuses the
retry of an older failed version of the same contact. The console's engine does it daily."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlmodel import col

from console.core.vocab import RowKind
from console.engine.commands import Commands
from console.engine.destinations import get_destination
from console.engine.options import EngineOptions
from console.engine.service import PRUNE_JOB, EngineService
from state.db import Store
from state.models import DailyStat, OutboxRow, SyncRun
from state.outbox import Failure, NewRow, queue_rows, record_outcomes
from state.runs import start_run
from tests.conftest import FrozenClock
from tests.engine.test_service import add

TODAY = datetime(2024, 4, 16, 16, 54, tzinfo=UTC)


def record(store: Store, name: str, at: datetime, delivered: int, failed: int, queued: int) -> None:
    """Rows of contacts `<prefix>-<n>` recorded on `at`: delivered, failed and still queued."""
    prefix = f"{name}-{at:%Y%m%d}"
    rows = [
        NewRow(RowKind.TRACK, f"{prefix}-{n}", f"{prefix}-{n}@example.com", b"{}", None)
        for n in range(delivered + failed + queued)
    ]
    with store.write() as conn:
        destination = get_destination(conn, name)
        assert destination is not None
        run_id = start_run(conn, destination.id, "manual")
        queue_rows(conn, destination.id, run_id, rows)
        ids = list(
            conn.scalars(
                select(col(OutboxRow.id))
                .where(col(OutboxRow.message_id).like(f"{prefix}-%"))
                .order_by(col(OutboxRow.id))
            )
        )
        record_outcomes(
            conn,
            destination.id,
            run_id,
            at,
            delivered=ids[:delivered],
            retries=[],
            failures=[Failure(i, 400, "bad") for i in ids[delivered : delivered + failed]],
        )


def counts(store: Store) -> dict[str, int]:
    with store.read() as conn:
        found = conn.execute(
            select(col(OutboxRow.status), func.count()).group_by(col(OutboxRow.status))
        )
        by_status = {str(status): int(n) for status, n in found}
        by_status["runs"] = conn.scalar(select(func.count()).select_from(SyncRun)) or 0
        by_status["stats"] = conn.scalar(select(func.sum(DailyStat.completions))) or 0
    return by_status


def test_prune_deletes_old_delivered_rows_only_and_keeps_counters_failures_runs(
    store: Store, frozen_clock: FrozenClock
) -> None:
    frozen_clock.set(TODAY)
    add(store, "seg", "http://127.0.0.1:9")
    add(store, "hook", "http://127.0.0.1:9")
    for name in ("seg", "hook"):
        record(store, name, TODAY - timedelta(days=200), delivered=1500, failed=3, queued=2)
        record(store, name, TODAY - timedelta(days=10), delivered=7, failed=1, queued=1)
    before = counts(store)

    pruned = Commands(store).prune(90)

    assert pruned.rows == 3000 and pruned.batches >= 4  # several short transactions
    after = counts(store)
    assert after["delivered"] == 14
    assert (after["failed"], after["queued"]) == (before["failed"], before["queued"])
    assert (after["runs"], after["stats"]) == (before["runs"], before["stats"]) != (0, 0)
    assert Commands(store).prune(90).rows == 0


def test_a_delivered_state_row_that_refuses_an_older_failure_is_kept(
    store: Store, frozen_clock: FrozenClock
) -> None:
    frozen_clock.set(TODAY)
    add(store, "seg", "http://127.0.0.1:9")
    rows = [NewRow(RowKind.IDENTIFY, f"ann-v{n}", "ann@example.com", b"{}", None) for n in (1, 2)]
    with store.write() as conn:
        destination = get_destination(conn, "seg")
        assert destination is not None
        run_id = start_run(conn, destination.id, "manual")
        queue_rows(conn, destination.id, run_id, rows)
        older, newer = conn.scalars(select(col(OutboxRow.id)).order_by(col(OutboxRow.id)))
        record_outcomes(
            conn,
            destination.id,
            run_id,
            TODAY - timedelta(days=200),
            delivered=[newer],
            retries=[],
            failures=[Failure(older, 400, "bad")],
        )

    assert Commands(store).prune(90).rows == 0
    assert Commands(store).requeue([older]).refused  # still refused: the newer one is known


async def test_the_console_engine_prunes_daily(store: Store, frozen_clock: FrozenClock) -> None:
    frozen_clock.set(TODAY)
    add(store, "seg", "http://127.0.0.1:9")
    record(store, "seg", TODAY - timedelta(days=40), delivered=5, failed=1, queued=0)
    engine = EngineService(store, EngineOptions(history_retention_days=30))
    engine.start(paused=True)
    try:
        assert engine.maintenance is not None
        job = engine.maintenance.get_job(PRUNE_JOB)
        assert job is not None and job.trigger.interval == timedelta(days=1)
        assert engine.scheduler is not None
        assert [j.id for j in engine.scheduler.get_jobs()] == ["seg"]  # deliveries only
        pruned = await engine.prune_history()
    finally:
        engine.shutdown()
    assert pruned.rows == 5 and counts(store).get("delivered", 0) == 0
