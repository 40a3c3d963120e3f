"""Concurrent use of one store: two `--run-once` started at once (from cron, say), the console's
in-process engine beside a `--run-once` subprocess, an import while a run delivers, and several
processes creating the same new store at once.

What must hold: no "database is locked" failure anywhere; no event delivered twice (and none
under two ids); the second engine on a destination waits for the first (the default
`--lease-wait`) or, with `--lease-wait 0`, exits 3 naming the process that holds it.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.engine.destinations import get_destination
from console.engine.options import EngineOptions
from console.engine.runner import run_destination
from console.engine.service import EngineService
from console.sandbox import Faults, SandboxServer, SegmentSandbox
from state.db import open_store
from state.failures import failures_page
from state.history import runs_page
from state.models import Destination
from state.summary import daily_summary

from .conftest import (
    WRITE_KEY,
    Figures,
    check_delivery,
    cli_command,
    cli_env,
    received_ids,
    run_cli,
    seed_segment_store,
    sqlite_scalar,
    start_cli,
    wait_until,
    write_events,
)

EVENTS = 10_000
DELAY = 0.25  # seconds the sandbox takes per request: a run lasts a couple of seconds
LOCKED = "database is locked"


@pytest.fixture
def slow_sandbox() -> Iterator[tuple[SegmentSandbox, SandboxServer]]:
    sandbox = SegmentSandbox(write_keys={WRITE_KEY}, faults=Faults(delay_seconds=DELAY))
    with SandboxServer(sandbox) as server:
        yield sandbox, server


def _outputs(tmp_path: Path, name: str) -> tuple[str, str]:
    out = (tmp_path / f"{name}.out").read_text()
    err = (tmp_path / f"{name}.err").read_text()
    return out, err


def _delivered(stdout: str) -> int:
    # The line's counts have thousands separators (10,000): scripts read --json instead.
    match = re.search(r"seg: \w+ - ([\d,]+) delivered", stdout)
    assert match, stdout
    return int(match.group(1).replace(",", ""))


def test_two_run_once_at_once_the_second_waits(
    tmp_path: Path, slow_sandbox: tuple[SegmentSandbox, SandboxServer], figures: Figures
) -> None:
    sandbox, server = slow_sandbox
    db = tmp_path / "console.db"
    expected = seed_segment_store(db, server.url, EVENTS)

    procs = [start_cli("--db", str(db), "--run-once", out=tmp_path / f"r{n}") for n in (1, 2)]
    codes = [p.wait(timeout=120) for p in procs]

    outputs = [_outputs(tmp_path, f"r{n}") for n in (1, 2)]
    assert codes == [0, 0], outputs
    for out, err in outputs:
        assert LOCKED not in out + err
        assert "Traceback" not in err
    # One of them delivered everything; the other waited for it, then found nothing to send.
    assert sorted(_delivered(out) for out, _ in outputs) == [0, EVENTS]
    lost, foreign = check_delivery(sandbox, expected, figures)
    assert not lost and not foreign
    assert set(received_ids(sandbox).values()) == {1}
    assert sqlite_scalar(db, "SELECT count(*) FROM outbox") == EVENTS
    # History: two finished runs, none left running.
    store = open_store(db)
    try:
        with store.read() as conn:
            runs = runs_page(conn, "seg")
    finally:
        store.dispose()
    assert sorted((r.status, r.delivered) for r in runs) == [("ok", 0), ("ok", EVENTS)]


def test_two_run_once_with_lease_wait_zero_one_exits_3(
    tmp_path: Path, slow_sandbox: tuple[SegmentSandbox, SandboxServer], figures: Figures
) -> None:
    sandbox, server = slow_sandbox
    db = tmp_path / "console.db"
    expected = seed_segment_store(db, server.url, EVENTS)
    args = ("--db", str(db), "--run-once", "--lease-wait", "0")

    procs = [start_cli(*args, out=tmp_path / f"r{n}") for n in (1, 2)]
    codes = [p.wait(timeout=120) for p in procs]

    outputs = [_outputs(tmp_path, f"r{n}") for n in (1, 2)]
    assert sorted(codes) == [0, 3], outputs
    busy = codes.index(3)
    winner = procs[1 - busy]
    out, err = outputs[busy]
    # A clear message: busy, and who holds it (this host, the other process's pid).
    assert "seg: busy - 0 delivered" in out
    assert f"being delivered by {socket.gethostname()}:{winner.pid}" in out
    for out, err in outputs:
        assert LOCKED not in out + err
    lost, foreign = check_delivery(sandbox, expected, figures)
    assert not lost and not foreign
    assert set(received_ids(sandbox).values()) == {1}


async def test_console_engine_and_cron_run_once_share_a_store(
    tmp_path: Path, slow_sandbox: tuple[SegmentSandbox, SandboxServer], figures: Figures
) -> None:
    sandbox, server = slow_sandbox
    db = tmp_path / "console.db"
    expected = seed_segment_store(db, server.url, EVENTS)
    store = open_store(db)
    service = EngineService(store, EngineOptions(lease_wait_seconds=0))
    try:
        # The console is open; cron starts a run-once on the same file.
        cron = await asyncio.create_subprocess_exec(
            *cli_command("--db", str(db), "--run-once"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=cli_env(),
        )
        assert await asyncio.to_thread(wait_until, lambda: sandbox.requests > 0, 30), (
            "the cron run never started sending"
        )

        # The console reads, writes and asks for a run while cron delivers.
        busy = await service.run_now("seg")
        assert busy.status == "busy" and "being delivered by" in busy.message
        for _ in range(20):
            with store.read() as conn:
                daily_summary(conn)
                failures_page(conn)
                runs_page(conn)
            service.set_paused("seg", False)  # a write: waits for cron's transaction
            await asyncio.sleep(0.02)

        stdout, stderr = await asyncio.wait_for(cron.communicate(), 120)
        assert cron.returncode == 0, stdout + stderr
        assert LOCKED.encode() not in stdout + stderr

        # Once cron is done, the console's run finds nothing left to send.
        after = await service.run_now("seg")
        assert after.status == "ok" and after.counts.delivered == 0

        # The other way round: the console delivers new events while cron's run-once starts.
        more = write_events(tmp_path / "more.jsonl", 500, prefix="more")
        imported = run_cli("--db", str(db), "import", "events", str(tmp_path / "more.jsonl"))
        assert imported.returncode == 0, imported.stderr
        # Long enough that the console run outlasts cron start-up even on a loaded machine.
        sandbox.faults.update({"delay_seconds": 8.0})
        before = sandbox.requests
        console_run = asyncio.create_task(service.run_now("seg"))
        assert await asyncio.to_thread(wait_until, lambda: sandbox.requests > before, 30)
        cron = await asyncio.create_subprocess_exec(
            *cli_command("--db", str(db), "--run-once", "--lease-wait", "0"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=cli_env(),
        )
        stdout, stderr = await asyncio.wait_for(cron.communicate(), 120)
        result = await console_run
        assert result.status == "ok" and result.counts.delivered == 500
        assert cron.returncode == 3, stdout + stderr
        assert b"busy" in stdout and LOCKED.encode() not in stdout + stderr
    finally:
        store.dispose()
    lost, foreign = check_delivery(sandbox, expected | more, figures)
    assert not lost and not foreign
    assert set(received_ids(sandbox).values()) == {1}


def test_import_while_a_run_delivers(
    tmp_path: Path, slow_sandbox: tuple[SegmentSandbox, SandboxServer], figures: Figures
) -> None:
    """Cron imports the night's events while the previous run-once still delivers."""
    sandbox, server = slow_sandbox
    db = tmp_path / "console.db"
    expected = seed_segment_store(db, server.url, EVENTS)
    more = write_events(tmp_path / "more.jsonl", 20_000, prefix="late")

    run = start_cli("--db", str(db), "--run-once", out=tmp_path / "run")
    assert wait_until(lambda: sandbox.requests > 0, 30)
    imported = run_cli("--db", str(db), "import", "events", str(tmp_path / "more.jsonl"))
    assert run.wait(timeout=120) in (0, 1)
    out, err = _outputs(tmp_path, "run")
    assert imported.returncode == 0, imported.stderr
    assert LOCKED not in out + err + imported.stdout + imported.stderr

    final = run_cli("--db", str(db), "--run-once")
    assert final.returncode == 0, final.stdout + final.stderr
    lost, foreign = check_delivery(sandbox, expected | more, figures)
    assert not lost and not foreign
    assert set(received_ids(sandbox).values()) == {1}


async def test_a_dead_holder_with_this_process_pid_is_taken_over(
    tmp_path: Path, slow_sandbox: tuple[SegmentSandbox, SandboxServer]
) -> None:
    """A lease left by a killed process whose pid the new process happens to reuse: the new
    process must not wait for itself until the lease expires."""
    _sandbox, server = slow_sandbox
    db = tmp_path / "console.db"
    seed_segment_store(db, server.url, 10)
    store = open_store(db)
    try:
        stale = f"{socket.gethostname()}:{os.getpid()}:deadbeef"
        table = Destination.__table__
        with store.write() as conn:
            conn.execute(
                table.update().values(lease_owner=stale, lease_until="2999-01-01T00:00:00.000Z")
            )
            destination = get_destination(conn, "seg")
        assert destination is not None
        result = await run_destination(store, destination, "manual", EngineOptions())
        assert result.status == "ok" and result.counts.delivered == 10
    finally:
        store.dispose()


def _open(path: str, barrier: multiprocessing.synchronize.Barrier, results: object) -> None:
    barrier.wait()
    try:
        open_store(path).dispose()
        results.put("ok")  # type: ignore[attr-defined]
    except Exception as exc:
        results.put(f"{type(exc).__name__}: {exc}")  # type: ignore[attr-defined]


def test_processes_creating_one_new_store_at_once(tmp_path: Path) -> None:
    """Cron jobs starting together on a machine where the store does not exist yet: all
    succeed (no "file exists", no duplicate schema, no "database is locked" while the new
    file is switched to WAL), and the file is 0600."""
    context = multiprocessing.get_context("fork")
    outcomes: list[str] = []
    for trial in range(10):
        path = str(tmp_path / f"new{trial}.db")
        barrier = context.Barrier(4)
        results = context.Queue()
        workers = [context.Process(target=_open, args=(path, barrier, results)) for _ in range(4)]
        for worker in workers:
            worker.start()
        outcomes += [results.get(timeout=60) for _ in workers]
        for worker in workers:
            worker.join(timeout=60)
        assert os.stat(path).st_mode & 0o777 == 0o600
        store = open_store(path)
        store.dispose()
    assert outcomes == ["ok"] * 40, outcomes
