"""Crash safety of a ReSci audience backfill: `--run-once` killed with SIGKILL while it builds
the import file, while ReSci holds the upload but has not answered, and while it polls the
import job; then run until the job completes.

What must hold: one import job at ReSci in the end, recorded once in the store as completed,
every audience member in it once, no orphan (no job left `uploading`, no file left in the
import folder), no second job for the same audience.

The ReSci sandbox runs in this test process and answers each request `DELAY` seconds after
processing it, which opens the windows the kills aim at.
"""

from __future__ import annotations

import csv
import random
import signal
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from console.config import apply_config
from console.ingest import import_contacts
from console.sandbox import Faults, ResciSandbox, SandboxServer
from state.db import open_store

from .conftest import (
    API_KEY,
    Figures,
    resci_export_toml,
    run_cli,
    sqlite_rows,
    start_cli,
    wait_until,
)

poller = pytest.importorskip("console.destinations.resci.poller")

MEMBERS = 3_000
OUTSIDERS = 500
JOB_SECONDS = 2.0
DELAY = 0.4
SEED = 4242


@dataclass
class World:
    db: Path
    sandbox: ResciSandbox
    url: str

    @property
    def imports(self) -> Path:
        return self.db.parent / f"{self.db.stem}-resci-imports"

    def jobs(self) -> list[tuple[object, ...]]:
        return sqlite_rows(
            self.db, "SELECT id, audience, remote_id, status, rows FROM import_jobs ORDER BY id"
        )

    def job_status(self) -> str | None:
        try:
            rows = self.jobs()
        except sqlite3.OperationalError:
            return None
        return str(rows[-1][3]) if rows else None

    def run(self) -> None:
        result = run_cli("--db", str(self.db), "--run-once", "--max-wait", "0")
        assert result.returncode in (0, 1), result.stdout + result.stderr
        assert "Traceback" not in result.stderr

    def run_until_completed(self) -> None:
        deadline = time.monotonic() + 60
        while self.job_status() != "completed":
            assert time.monotonic() < deadline, f"the job never completed: {self.jobs()}"
            self.run()
            time.sleep(0.3)

    def kill_when(self, condition, jitter: float, name: str) -> None:  # type: ignore[no-untyped-def]
        proc = start_cli(
            "--db", str(self.db), "--run-once", "--max-wait", "0", out=self.db.parent / name
        )
        try:
            assert wait_until(lambda: condition() or proc.poll() is not None, 60)
            time.sleep(jitter)
            assert proc.poll() is None, f"{name}: the run ended before the kill"
            proc.send_signal(signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    sandbox = ResciSandbox(
        api_keys={API_KEY},
        job_delay_seconds=JOB_SECONDS,
        faults=Faults(delay_seconds=DELAY),
    )
    with SandboxServer(sandbox) as server:
        db = tmp_path / "console.db"
        contacts = tmp_path / "contacts.csv"
        with contacts.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["email", "first_name", "address_state", "created_at"])
            for i in range(MEMBERS + OUTSIDERS):
                state = "CA" if i < MEMBERS else "NY"
                writer.writerow([f"user{i}@example.com", f"=Name{i}", state, "2024-04-01"])
        config = tmp_path / "config.toml"
        config.write_text(resci_export_toml(server.url))
        store = open_store(db)
        try:
            apply_config(store, config)
            assert import_contacts(store, contacts).inserted == MEMBERS + OUTSIDERS
        finally:
            store.dispose()
        yield World(db, sandbox, server.url)


def assert_one_complete_job(world: World) -> None:
    with world.sandbox.lock:
        remote = list(world.sandbox.jobs.values())
    assert len(remote) == 1, f"ReSci got {len(remote)} import jobs for one audience"
    (job,) = remote
    rows = job.rows
    assert len(rows) == MEMBERS
    assert len({r["record_id"] for r in rows}) == MEMBERS
    assert all(r["full_name"].startswith("'=") for r in rows)  # formula cells neutralised
    (stored,) = world.jobs()
    assert stored[1:] == ("california", job.id, "completed", MEMBERS)
    assert sqlite_rows(world.db, "SELECT count(*) FROM audience_members")[0][0] == MEMBERS
    assert sqlite_rows(world.db, "SELECT count(*) FROM sync_runs WHERE status = 'running'") == [
        (0,)
    ]
    leftovers = sorted(p.name for p in world.imports.iterdir()) if world.imports.exists() else []
    assert leftovers == [], "orphan files in the import folder"


def test_backfill_killed_while_polling(world: World, figures: Figures) -> None:
    rng = random.Random(SEED)
    world.run()  # builds, uploads, records the job
    assert world.job_status() == "queued"
    kills = 0
    for number in range(3):
        seen = world.sandbox.requests
        world.kill_when(
            lambda s=seen: world.sandbox.requests > s, rng.uniform(0, DELAY * 0.6), f"poll{number}"
        )
        kills += 1
        assert world.job_status() in ("queued", "processing")
    world.run_until_completed()
    assert_one_complete_job(world)
    figures.kills += kills


def test_backfill_killed_while_building_the_file(world: World, figures: Figures) -> None:
    """Killed before ReSci got anything: the job row is `uploading`, the file half-written."""
    world.kill_when(lambda: world.job_status() == "uploading", 0.0, "build")
    with world.sandbox.lock:
        assert world.sandbox.jobs == {}
    world.run_until_completed()
    assert_one_complete_job(world)
    figures.kills += 1


@pytest.mark.parametrize("cause", ["killed", "reply reset", "reply malformed"])
def test_upload_accepted_but_reply_lost(world: World, cause: str, figures: Figures) -> None:
    if cause == "killed":
        world.kill_when(lambda: bool(world.sandbox.jobs), DELAY * 0.3, "upload")
    else:
        fault = "reset_every" if cause == "reply reset" else "malformed_every"
        world.sandbox.faults.update({fault: 1})
        world.run()
        world.sandbox.faults.update({fault: 0})
    with world.sandbox.lock:
        assert len(world.sandbox.jobs) == 1
    assert world.job_status() == "uploading"
    world.run_until_completed()
    assert_one_complete_job(world)
    # The second upload carried the first one's Idempotency-Key and got the first job back.
    assert world.sandbox.replayed_uploads == 1
    if cause == "killed":
        figures.kills += 1
    else:
        figures.faults_injected += 1
