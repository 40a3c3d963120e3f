"""The store on PostgreSQL: `--db postgresql+psycopg://...` instead of a SQLite file.

What must hold there as on SQLite: the schema is created once and reopened as is (with its
partial indexes); Segment and ReSci deliveries through `--run-once` arrive whole, once per
messageId, under receiver faults; the reports read the same figures; and two `--run-once`
started at once share the destinations through the lease, never sending a row under two ids.

The tests need a PostgreSQL server: `RETENTION_CONSOLE_TEST_POSTGRES` names an admin URL
(`.ci/run` starts a throwaway server with `.ci/postgres-up` and sets it). Each test works in a
database of its own, dropped afterwards. Without the variable the tests skip, saying so.
"""

from __future__ import annotations

import time
from pathlib import Path

import orjson
from sqlalchemy import make_url, text

from console.engine.destinations import get_destination
from console.engine.options import EngineOptions
from console.engine.retries import RetryPolicy
from console.engine.runner import run_destination
from console.sandbox import Faults, ResciSandbox, SandboxServer, SegmentSandbox
from state.db import open_store
from state.models import SCHEMA_VERSION

from .conftest import (
    API_KEY,
    WRITE_KEY,
    Figures,
    check_delivery,
    cli_ok,
    requires_postgres,
    resci_export_toml,
    segment_toml,
    start_cli,
    write_events,
)

pytestmark = requires_postgres


def test_schema_is_created_once_and_reopens_as_is(pg_url: str) -> None:
    for _ in range(2):
        store = open_store(pg_url)
        try:
            with store.read() as conn:
                version = conn.execute(text("SELECT version FROM schema_info")).scalar_one()
                indexes = dict(
                    conn.execute(
                        text(
                            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'outbox'"
                        )
                    ).all()
                )
        finally:
            store.dispose()
        assert version == SCHEMA_VERSION
        assert "WHERE" in indexes["ix_outbox_failed_email"]
        assert "WHERE" in indexes["ix_outbox_retrying"]
    # The console's header shows the URL without its password.
    with_password = make_url(pg_url).set(password="s3cret-pw").render_as_string(False)
    store = open_store(with_password)
    try:
        assert "s3cret-pw" not in store.label and "***" in store.label
    finally:
        store.dispose()


async def test_segment_delivery_under_faults_and_the_reports(
    pg_url: str, tmp_path: Path, figures: Figures
) -> None:
    faults = Faults(error_rate=0.2, seed=11, reject_emails={"user7@example.com"})
    sandbox = SegmentSandbox(write_keys={WRITE_KEY}, faults=faults)
    with SandboxServer(sandbox) as server:
        ids = write_events(tmp_path / "events.jsonl", 500)
        (tmp_path / "config.toml").write_text(segment_toml(server.url))
        cli_ok("import", "events", str(tmp_path / "events.jsonl"), "--db", pg_url)
        cli_ok("config", "apply", str(tmp_path / "config.toml"), "--db", pg_url)
        store = open_store(pg_url)
        try:
            with store.read() as conn:
                destination = get_destination(conn, "seg")
            assert destination is not None
            # In process, with test-sized backoff (the production policy waits minutes) and
            # attempts to spare: the refused email's neighbours are re-split on every try, and
            # a 5xx anywhere along the split costs them an attempt.
            fast = EngineOptions(
                policy=RetryPolicy(base_seconds=0.01, cap_seconds=0.05, max_attempts=40),
                batch_rows=25,
                max_wait_seconds=30,
            )
            result = await run_destination(store, destination, "manual", fast)
        finally:
            store.dispose()
        assert (result.counts.delivered, result.counts.rejected, result.queued) == (499, 1, 0)
        assert result.counts.retrying > 0
        lost, foreign = check_delivery(sandbox, ids - {"ev-000007"}, figures)
        assert not lost and not foreign
        figures.faults_injected += sandbox.requests - sandbox.batches  # 5xx and refused
        # A second run finds nothing new to send.
        before = sandbox.requests
        assert "0 delivered" in cli_ok("--run-once", "--max-wait", "0", "--db", pg_url)
        assert sandbox.requests == before

    failures = orjson.loads(cli_ok("failures", "--json", "--search", "user7", "--db", pg_url))
    assert [(f["email"], f["http_status"]) for f in failures] == [("user7@example.com", 400)]
    (day,) = orjson.loads(cli_ok("summary", "--json", "--db", pg_url))
    assert (day["completions"], day["failures"], day["queued"]) == (499, 1, 0)
    runs = orjson.loads(cli_ok("history", "--json", "--db", pg_url))
    assert [r["status"] for r in runs] == ["ok", "partial"]  # 1 rejected: partial (issue 12)


def test_resci_backfill_then_real_time_updates(pg_url: str, tmp_path: Path) -> None:
    sandbox = ResciSandbox(api_keys={API_KEY}, job_delay_seconds=0.2)
    with SandboxServer(sandbox) as server:
        contacts = tmp_path / "contacts.csv"
        contacts.write_text(
            "email,first_name,address_state,created_at\n"
            + "".join(f"user{i}@example.com,=Name{i},CA,2024-04-01\n" for i in range(200))
            + "outsider@example.com,Out,NY,2024-04-01\n"
        )
        (tmp_path / "config.toml").write_text(resci_export_toml(server.url))
        cli_ok("import", "contacts", str(contacts), "--db", pg_url)
        cli_ok("config", "apply", str(tmp_path / "config.toml"), "--db", pg_url)
        assert "import job job_1 queued: 200 users" in cli_ok("--run-once", "--db", pg_url)
        time.sleep(0.3)
        assert "job_1 completed: 200 imported" in cli_ok("--run-once", "--db", pg_url)
        (job,) = sandbox.jobs.values()
        assert all(row["full_name"].startswith("'=") for row in job.rows)

        # user0 leaves California, the outsider enters: two user updates, no new job.
        contacts.write_text(
            "email,first_name,address_state,created_at\n"
            "user0@example.com,=Name0,NY,2024-04-01\n"
            "outsider@example.com,Out,CA,2024-04-01\n"
        )
        cli_ok("import", "contacts", str(contacts), "--db", pg_url)
        assert "2 delivered" in cli_ok("--run-once", "--db", pg_url)
        assert len(sandbox.jobs) == 1
        posts = {p["email"]: p["audience_california"] for p in sandbox.user_posts}
        assert posts == {"user0@example.com": False, "outsider@example.com": True}


def test_two_run_once_at_once_share_the_lease(
    pg_url: str, tmp_path: Path, figures: Figures
) -> None:
    sandbox = SegmentSandbox(write_keys={WRITE_KEY}, faults=Faults(delay_seconds=0.05))
    with SandboxServer(sandbox) as server:
        ids = write_events(tmp_path / "events.jsonl", 3_000)
        (tmp_path / "config.toml").write_text(segment_toml(server.url))
        cli_ok("import", "events", str(tmp_path / "events.jsonl"), "--db", pg_url)
        cli_ok("config", "apply", str(tmp_path / "config.toml"), "--db", pg_url)
        procs = [
            start_cli("--run-once", "--lease-wait", "0", "--db", pg_url, out=tmp_path / f"r{i}")
            for i in range(2)
        ]
        codes = sorted(proc.wait(timeout=120) for proc in procs)
        outputs = [(tmp_path / f"r{i}.out").read_text() for i in range(2)]
        errors = [(tmp_path / f"r{i}.err").read_text() for i in range(2)]
        assert not any("Traceback" in e or "locked" in e for e in errors), errors
        # Either the second found the destination busy (exit 3), or the first was done first.
        assert codes in ([0, 3], [0, 0]), (codes, outputs, errors)
        if codes == [0, 0]:
            assert any("0 delivered" in out for out in outputs), outputs
        lost, foreign = check_delivery(sandbox, ids, figures)
        assert not lost and not foreign
        assert set(sandbox.message_ids.values()) == {1}
