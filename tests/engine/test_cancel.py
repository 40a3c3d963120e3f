"""A run cancelled from outside (SIGINT, SIGTERM, the console quitting) closes itself as
`interrupted`, gives back its lease, and a plan step still in its worker thread stops after
the transaction it is in instead of planning every source row first."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from console.engine import planning
from console.engine.runner import run_destination
from console.sandbox import SegmentSandbox
from state.db import Store
from state.history import runs_page
from state.models import Destination, OutboxRow
from tests.engine.test_delivery import Files, configure, event, files, options

__all__ = ["files"]  # the fixture, used by name

EVENTS = 200


def slow_plan_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the plan step slow enough to stop inside it: chunks of 10 rows, 4 chunks a
    transaction, 0.1 s a chunk."""
    monkeypatch.setattr(planning, "CHUNK", 10)
    plan_chunk = planning._plan_chunk

    def slow_chunk(*args: object) -> bool:
        time.sleep(0.1)
        return plan_chunk(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(planning, "_plan_chunk", slow_chunk)


def outbox_rows(store: Store) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(OutboxRow)).scalar_one())


async def test_a_cancelled_run_stops_planning_and_closes_as_interrupted(
    store: Store,
    files: Files,
    segment_sandbox: tuple[SegmentSandbox, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _, url = segment_sandbox
    files.events([event(n) for n in range(EVENTS)])
    destination = configure(store, url, grow=False)
    slow_plan_step(monkeypatch)  # 20 chunks of 10 events

    run = asyncio.create_task(run_destination(store, destination, "manual", options()))
    deadline = time.monotonic() + 20
    while outbox_rows(store) == 0:  # the first transaction committed: planning goes on
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    await asyncio.sleep(2.5)  # longer than the rest of the plan step would take

    planned = outbox_rows(store)
    assert 0 < planned < EVENTS  # stopped after the transaction it was in
    assert planned % 40 == 0  # whole transactions only
    with store.read() as conn:
        [latest] = runs_page(conn, "seg")
        lease = conn.execute(select(Destination.__table__.c.lease_owner)).scalar_one()
    assert (latest.status, latest.message) == ("interrupted", "the process was stopped")
    assert latest.added == planned  # every committed transaction counted, none after
    assert lease is None
