"""Workers sharing one destination on PostgreSQL (`--run-once --worker`; state/sharing.py).

What must hold: workers started together each deliver a share of one destination, every row
once; a worker killed with SIGKILL loses its slots to the others at once, and nothing is lost or
sent under a new messageId; a run that works a destination alone (the console, a plain
`--run-once`) and the workers take turns, never both at once. Needs the PostgreSQL server of
test_postgres.py (`RETENTION_CONSOLE_TEST_POSTGRES`).
"""

from __future__ import annotations

import asyncio
import hashlib
import signal
import time
from pathlib import Path

import orjson
import pytest
from sqlalchemy import text

from console.core.vocab import RunStatus
from console.engine.destinations import DestinationRecord, get_destination
from console.engine.options import EngineOptions
from console.engine.runner import run_destination
from console.sandbox import Faults, ResciSandbox, SandboxServer, SegmentSandbox
from state import runs
from state.db import Store, open_store
from state.history import runs_page
from state.runs import WORKERS, acquire_lease, live_lease_holder, owner_id, release_lease
from state.sharing import SLOTS, WorkerLocks
from tests.engine.test_cancel import outbox_rows, slow_plan_step

from .conftest import (
    API_KEY,
    WRITE_KEY,
    Figures,
    check_delivery,
    cli_env,
    cli_ok,
    requires_postgres,
    resci_export_toml,
    run_cli,
    segment_toml,
    start_cli,
    wait_until,
    write_events,
)

pytestmark = requires_postgres


def seed(pg_url: str, tmp_path: Path, server_url: str, events: int) -> set[str]:
    ids = write_events(tmp_path / "events.jsonl", events)
    (tmp_path / "config.toml").write_text(segment_toml(server_url))
    cli_ok("import", "events", str(tmp_path / "events.jsonl"), "--db", pg_url)
    cli_ok("config", "apply", str(tmp_path / "config.toml"), "--db", pg_url)
    return ids


def seed_resci(pg_url: str, tmp_path: Path, server_url: str, contacts: int) -> None:
    """`contacts` Californians and a ReSci destination exporting them."""
    path = tmp_path / "contacts.csv"
    path.write_text(
        "email,first_name,address_state,created_at\n"
        + "".join(f"user{i}@example.com,Name{i},CA,2024-04-01\n" for i in range(contacts))
    )
    (tmp_path / "config.toml").write_text(resci_export_toml(server_url))
    cli_ok("import", "contacts", str(path), "--db", pg_url)
    cli_ok("config", "apply", str(tmp_path / "config.toml"), "--db", pg_url)


SLOT_LOCKS, RUN_LOCKS = 0x52430002, 0x52430006
"""The first keys of state.sharing's slot and run locks."""


def seeded_store(pg_url: str, tmp_path: Path) -> Store:
    """The store of `seed` with 10 events (its sandbox gone again: nothing is sent)."""
    with SandboxServer(SegmentSandbox(write_keys={WRITE_KEY})) as server:
        seed(pg_url, tmp_path, server.url, 10)
    return open_store(pg_url)


def drop_session_holding(store: Store, kind: int, key: int) -> None:
    """End the session that holds an advisory lock, as a killed worker's connection ends:
    PostgreSQL frees every lock of the session with it."""
    with store.read() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                "AND classid::bigint = :kind AND objid = :key AND granted"
            ),
            {"kind": kind, "key": key},
        )


def destination_of(store: Store) -> DestinationRecord:
    with store.read() as conn:
        destination = get_destination(conn, "seg")
    assert destination is not None
    return destination


async def test_workers_started_together_each_deliver_a_share(
    pg_url: str, tmp_path: Path, figures: Figures
) -> None:
    sandbox = SegmentSandbox(write_keys={WRITE_KEY}, faults=Faults(delay_seconds=0.02))
    with SandboxServer(sandbox) as server:
        ids = seed(pg_url, tmp_path, server.url, 4_000)
        store = open_store(pg_url)
        try:
            destination = destination_of(store)
            shared = EngineOptions(batch_rows=100, max_wait_seconds=5, shared=True)
            results = await asyncio.gather(
                *(run_destination(store, destination, "manual", shared) for _ in range(3))
            )
        finally:
            store.dispose()
    assert [r.status for r in results] == [RunStatus.OK] * 3, [r.line() for r in results]
    shares = [r.counts.delivered for r in results]
    assert sum(shares) == 4_000 and all(shares), shares
    assert [r.queued for r in results] == [0, 0, 0]
    lost, foreign = check_delivery(sandbox, ids, figures)
    assert not lost and not foreign
    assert set(sandbox.message_ids.values()) == {1}  # slot by slot: no row sent twice


def test_a_slot_is_one_workers_and_a_dead_workers_slots_are_free_at_once(
    pg_url: str, tmp_path: Path
) -> None:
    store = seeded_store(pg_url, tmp_path)
    try:
        destination_id = destination_of(store).id
        first, second = WorkerLocks(store, destination_id), WorkerLocks(store, destination_id)
        assert first.join() and second.join()
        assert first.take_slot(3)
        assert not second.take_slot(3)
        assert second.free_slots() == [s for s in range(SLOTS) if s != 3]
        assert first.take_polling() and not second.take_polling()
        drop_session_holding(store, SLOT_LOCKS, destination_id * SLOTS + 3)
        assert wait_until(lambda: second.take_slot(3), timeout=5, step=0.05)
        assert second.take_polling()
        second.release()
    finally:
        store.dispose()


def test_a_dead_workers_run_is_closed_by_the_next_worker_while_others_work_on(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker holds the lock of the run it started; once it is gone, the next worker to
    start closes its run as interrupted, while a live worker's run stays running."""
    monkeypatch.setattr(runs, "WORKER_RUN_GRACE_SECONDS", 0)
    store = seeded_store(pg_url, tmp_path)
    try:
        destination_id = destination_of(store).id
        dying, living = WorkerLocks(store, destination_id), WorkerLocks(store, destination_id)
        assert dying.join() and living.join()
        with store.write() as conn:
            dying_run = runs.start_run(conn, destination_id, "run-once")
            living_run = runs.start_run(conn, destination_id, "run-once")
        dying.own_run(dying_run)
        living.own_run(living_run)
        with store.write() as conn:
            assert runs.close_runs_of_ended_processes(conn) == 0  # both alive
        drop_session_holding(store, RUN_LOCKS, dying_run)

        def closed() -> bool:
            with store.write() as conn:
                return runs.close_runs_of_ended_processes(conn) == 1

        assert wait_until(closed, timeout=5, step=0.05)
        with store.read() as conn:
            statuses = dict(conn.execute(text("SELECT id, status FROM sync_runs")).all())
        assert statuses == {dying_run: "interrupted", living_run: "running"}
        living.release()
    finally:
        store.dispose()


def test_a_run_alone_and_the_workers_take_turns(pg_url: str, tmp_path: Path) -> None:
    with SandboxServer(SegmentSandbox(write_keys={WRITE_KEY})) as server:
        seed(pg_url, tmp_path, server.url, 10)
    store = open_store(pg_url)
    try:
        destination = destination_of(store)
        worker = WorkerLocks(store, destination.id)
        assert worker.join()
        with store.write() as conn:
            assert acquire_lease(conn, destination.id, owner_id()) == WORKERS
        worker.release()
        alone = owner_id()
        with store.write() as conn:
            assert acquire_lease(conn, destination.id, alone) is None
        with store.read() as conn:
            assert live_lease_holder(conn, destination.id) == ":".join(alone.split(":")[:2])
        busy = asyncio.run(
            run_destination(
                store, destination, "manual", EngineOptions(shared=True, max_wait_seconds=0)
            )
        )
        assert busy.status == RunStatus.BUSY and "being delivered by" in busy.message
        with store.write() as conn:
            release_lease(conn, destination.id, alone)
    finally:
        store.dispose()


def test_one_of_three_workers_killed_mid_run(pg_url: str, tmp_path: Path, figures: Figures) -> None:
    """The issue's test: SIGKILL one of three `--run-once --worker` processes while all three
    deliver. The others take its slots and finish: every event delivered, none under a new
    messageId, every worker delivered a share."""
    events = 20_000
    sandbox = SegmentSandbox(write_keys={WRITE_KEY}, faults=Faults(delay_seconds=0.05))
    with SandboxServer(sandbox) as server:
        ids = seed(pg_url, tmp_path, server.url, events)
        env = cli_env({"RETENTION_CONSOLE_BATCH_ROWS": "100"})
        worker = ("--run-once", "--worker", "--max-wait", "30", "--db", pg_url)
        doomed = start_cli(*worker, out=tmp_path / "w0", env=env)
        store = open_store(pg_url)
        try:

            def runs_delivering() -> int:
                with store.read() as conn:
                    found = conn.execute(
                        text("SELECT count(*) FROM sync_runs WHERE delivered > 0")
                    ).scalar_one()
                return int(found)

            assert wait_until(lambda: runs_delivering() == 1, timeout=60, step=0.05)
            others = [start_cli(*worker, out=tmp_path / f"w{i}", env=env) for i in (1, 2)]
            assert wait_until(lambda: runs_delivering() == 3, timeout=60, step=0.05)
            received_at_kill = len(sandbox.message_ids)
            doomed.send_signal(signal.SIGKILL)
            doomed.wait(timeout=10)
            codes = [proc.wait(timeout=120) for proc in others]
        finally:
            store.dispose()
        outputs = [(tmp_path / f"w{i}.out").read_text() for i in (1, 2)]
        errors = [(tmp_path / f"w{i}.err").read_text() for i in (1, 2)]
        assert codes == [0, 0], (outputs, errors)
        assert received_at_kill < events  # killed with work left
        figures.kills += 1
        lost, foreign = check_delivery(sandbox, ids, figures)
        assert not lost and not foreign

        # The next plain run finds nothing to send and closes the dead worker's run.
        assert "0 delivered" in cli_ok("--run-once", "--max-wait", "0", "--db", pg_url)
    runs = orjson.loads(cli_ok("history", "--json", "--db", pg_url))
    workers = [r for r in runs if r["delivered"] > 0]
    assert sorted(r["status"] for r in workers) == ["interrupted", "ok", "ok"], workers
    assert sum(r["delivered"] for r in workers) == events
    assert all(r["delivered"] > 0 for r in workers)


def test_a_planner_killed_mid_plan_leaves_the_rest_to_the_other_worker(
    pg_url: str, tmp_path: Path, figures: Figures
) -> None:
    """One worker plans while the other delivers what it queues; the planner is killed before
    it has planned everything. The other plans the rest and delivers it all, none under a new
    messageId."""
    events = 120_000
    sandbox = SegmentSandbox(write_keys={WRITE_KEY})
    with SandboxServer(sandbox) as server:
        ids = seed(pg_url, tmp_path, server.url, events)
        worker = ("--run-once", "--worker", "--max-wait", "30", "--db", pg_url)
        planner = start_cli(*worker, out=tmp_path / "planner")
        store = open_store(pg_url)
        try:

            def scalar(sql: str) -> int:
                with store.read() as conn:
                    return int(conn.execute(text(sql)).scalar_one())

            assert wait_until(
                lambda: scalar("SELECT count(*) FROM outbox") >= 20_000, timeout=60, step=0.02
            )
            other = start_cli(*worker, out=tmp_path / "other")
            assert wait_until(
                lambda: scalar("SELECT count(*) FROM sync_runs WHERE delivered > 0") == 1,
                timeout=60,
                step=0.02,
            )
            planner.send_signal(signal.SIGKILL)
            planner.wait(timeout=10)
            planned_at_kill = scalar("SELECT count(*) FROM outbox")
            code = other.wait(timeout=120)
        finally:
            store.dispose()
        output = (tmp_path / "other.out").read_text() + (tmp_path / "other.err").read_text()
        assert code == 0, output
        assert planned_at_kill < events, planned_at_kill  # killed mid-plan
        figures.kills += 1
        figures.kills_during_plan += 1
        lost, foreign = check_delivery(sandbox, ids, figures)
        assert not lost and not foreign


def test_a_backfill_built_on_one_host_is_uploaded_and_completed_on_others(
    pg_url: str, tmp_path: Path
) -> None:
    """The backfill's files are kept in the store: a worker on another host (its own temporary
    folder here) uploads the very file another one built, and a third records the completed
    job's membership, with one import job in all; an erasure meanwhile reaches the copy."""
    hosts = {name: tmp_path / name for name in ("a", "b", "c")}
    for folder in hosts.values():
        folder.mkdir()

    def worker_on(host: str) -> str:
        result = run_cli(
            "--run-once", "--worker", "--db", pg_url, env=cli_env({"TMPDIR": str(hosts[host])})
        )
        assert "Traceback" not in result.stderr, result.stderr
        return result.stdout + result.stderr

    sandbox = ResciSandbox(api_keys={API_KEY}, job_delay_seconds=0.2)
    with SandboxServer(sandbox) as server:
        seed_resci(pg_url, tmp_path, server.url, 200)

        sandbox.faults = Faults(error_rate=1.0)  # host a builds the file; its upload fails
        assert "uploads the file again" in worker_on("a")
        (built,) = hosts["a"].glob("retention-console-resci-imports/*.csv")
        sandbox.faults = Faults()
        assert "import job job_1 queued: 200 users" in worker_on("b")
        ((sha256, _, _),) = sandbox.uploads_by_key.values()
        assert sha256 == hashlib.sha256(built.read_bytes()).hexdigest()  # byte for byte
        # Erased while the job is at ReSci: the store's copy is rewritten without the contact.
        assert "1 import file" in cli_ok("forget", "user7@example.com", "--db", pg_url)

        time.sleep(0.3)
        assert "job_1 completed: 200 imported" in worker_on("c")
        assert len(sandbox.jobs) == 1
    store = open_store(pg_url)
    try:
        with store.read() as conn:
            kept = conn.execute(text("SELECT count(*) FROM import_job_files")).scalar_one()
            members = conn.execute(text("SELECT count(*) FROM audience_members")).scalar_one()
    finally:
        store.dispose()
    # The copy goes with the job; membership is recorded for all but the forgotten contact.
    assert (kept, members) == (0, 199)


def test_an_erasure_reaches_the_backfill_files_kept_in_the_store(
    pg_url: str, tmp_path: Path
) -> None:
    """`forget` on any host takes the contact out of the store's copy: the job's file, not
    uploaded yet, is built again without the contact, even by the host that built it first."""
    env = cli_env({"TMPDIR": str(tmp_path)})
    sandbox = ResciSandbox(api_keys={API_KEY}, job_delay_seconds=0.2)
    with SandboxServer(sandbox) as server:
        seed_resci(pg_url, tmp_path, server.url, 20)
        sandbox.faults = Faults(error_rate=1.0)
        run_cli("--run-once", "--worker", "--db", pg_url, env=env)
        (built,) = tmp_path.glob("retention-console-resci-imports/*.csv")
        stale = built.read_bytes()
        assert b"user5@example.com" in stale
        assert "forgot 1 email" in cli_ok("forget", "user5@example.com", "--db", pg_url)
        # Forgotten on another host, which cannot reach this disk: the file is still here.
        built.write_bytes(stale)
        sandbox.faults = Faults()
        result = run_cli("--run-once", "--worker", "--db", pg_url, env=env)
        assert "import job job_1 queued: 19 users" in result.stdout, result.stdout + result.stderr
        (job,) = sandbox.jobs.values()
        assert all(row["email"] != "user5@example.com" for row in job.rows)


async def test_a_run_cancelled_mid_plan_counts_every_transaction_it_committed(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM during the plan step: the run is closed once the transaction it was in has
    committed, so History's `added` is what the outbox holds (on PostgreSQL nothing made the
    closing write wait for it, and a worker trial showed 60,000 added of 80,000 queued)."""
    with SandboxServer(SegmentSandbox(write_keys={WRITE_KEY}), port=0) as server:
        seed(pg_url, tmp_path, server.url, 200)
        store = open_store(pg_url)
        try:
            slow_plan_step(monkeypatch)
            run = asyncio.create_task(
                run_destination(store, destination_of(store), "manual", EngineOptions())
            )
            while outbox_rows(store) == 0:  # the first transaction committed
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.15)  # inside the second one
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run
            queued = outbox_rows(store)
            with store.read() as conn:
                [stopped] = runs_page(conn, "seg")
        finally:
            store.dispose()
    assert (stopped.status, stopped.added) == ("interrupted", queued)
    assert 0 < queued < 200
