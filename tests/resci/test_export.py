"""Export Audiences to the ReSci sandbox through the real engine: the backfill as one import
job, polling it, rejections, resuming after a restart, then real-time enter / change / exit."""

from __future__ import annotations

import csv
import hashlib
import io
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from console.core import clock
from console.core.vocab import RowKind
from console.destinations.base import ConnectionTestFailed
from console.destinations.resci import poller
from console.destinations.resci.adapter import (
    ImportJobError,
    ResciAdapter,
    import_idempotency_key,
)
from console.destinations.resci.backfill import Export, resolve_export, write_backfill_file
from console.destinations.resci.delta import preview_delta
from console.engine.runs import RunCounts
from console.engine.service import EngineService
from console.engine.sessions import Session, run_context
from state.audiences import get_audience
from state.db import Connection, open_store
from state.failures import FailureFilter, failure_ids, failures_page
from state.history import runs_page
from state.import_jobs import import_jobs_for
from state.models import AudienceMember
from state.outbox import requeue_failures
from state.sources import CONTACTS, contact_partitions, stream_rows
from state.summary import daily_summary
from tests.resci.conftest import API_KEY, Console, Resci, contact, destination_toml

ATTRIBUTE = "audience_california_gmail"
MEMBERS = AudienceMember.__table__


def resolved(conn: Connection, settings: Any) -> Export:
    """The destination's export with its audience's rule, as a run resolves it."""
    audience = get_audience(conn, settings.audience)
    return resolve_export(settings, audience.rule if audience else None)


def md5(text: str) -> str:
    return hashlib.md5(text.strip().lower().encode()).hexdigest()


def jobs(console: Console) -> list[Any]:
    with console.store.read() as conn:
        return import_jobs_for(conn, console.destination().id)


def member_count(console: Console) -> int:
    with console.store.read() as conn:
        return int(
            conn.execute(
                select(func.count()).where(
                    MEMBERS.c.destination_id == console.destination().id, MEMBERS.c.member
                )
            ).scalar_one()
        )


def posts(resci: Resci) -> dict[str, dict[str, Any]]:
    """Every accepted POST /v3/users body, by email (the last one wins)."""
    return {p["email"]: p for p in resci.sandbox.user_posts}


async def backfill(console: Console, resci: Resci) -> None:
    """Run until the first import job is queued, then until ReSci reports it completed."""
    first = await console.run()
    assert first.status == "ok", first.message
    resci.to_done()
    done = await console.run()
    assert "completed" in done.message, done.message


# -- the backfill ------------------------------------------------------------------------------


async def test_backfill_of_10000_contacts_is_one_job_checked_column_by_column(
    console: Console, resci: Resci
) -> None:
    odd_names = {
        0: '=HYPERLINK("http://evil")',
        1: "+1 555",
        2: "-minus",
        3: "@handle",
        4: 'Smith, "Jr."',
        5: "Zoë Ünïcode",
        6: "inner\ttab",  # a leading tab would be trimmed by the import
    }
    members = [
        contact(i, first_name=odd_names.get(i), city=None if i % 1000 == 7 else f"City {i % 7}")
        for i in range(10_000)
    ]
    outsiders = [contact(10_000 + i, domain="yahoo.com") for i in range(300)]
    outsiders += [contact(20_000 + i, state="NY") for i in range(300)]
    console.contacts(members + outsiders)
    console.apply(destination_toml(resci.url))

    first = await console.run()
    assert first.status == "ok", first.message
    assert first.counts.added == 10_000
    assert "queued" in first.message
    assert len(resci.sandbox.jobs) == 1
    job = next(iter(resci.sandbox.jobs.values()))
    assert job.filename == "users-resci-main-1.csv"
    assert job.columns == [
        "record_id",
        "email",
        "account_created_on",
        "full_name",
        "city",
        ATTRIBUTE,
    ]
    assert job.custom_columns == [ATTRIBUTE]
    assert job.row_count == 10_000
    expected = {m["email"]: m for m in members}
    seen: set[str] = set()
    for row in csv.DictReader(io.StringIO(job.csv_text, newline="")):
        source = expected[row["email"]]
        assert row["record_id"] == md5(row["email"])
        assert row["account_created_on"] == "2024-01-02"
        name = source["first_name"]
        if name[0] in "=+-@\t":
            assert row["full_name"] == "'" + name  # neutralised for spreadsheets
        else:
            assert row["full_name"] == name
        assert row["city"] == (source["address_city"] or "")
        assert row[ATTRIBUTE] == "true"
        seen.add(row["email"])
    assert seen == set(expected)

    [recorded] = jobs(console)
    assert (recorded.remote_id, recorded.status, recorded.rows) == (job.id, "queued", 10_000)
    # While the job is pending, the file waits beside the store, private to the operator.
    files = sorted((console.store.path.parent / "console-resci-imports").iterdir())  # type: ignore[union-attr]
    assert [f.name for f in files] == ["users-resci-main-1.csv", "users-resci-main-1.csv.members"]
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600

    resci.to_processing()
    pending = await console.run()
    assert "processing" in pending.message
    assert "processing: 10,000 users" in pending.message  # counts read with separators
    assert jobs(console)[0].status == "processing"
    assert resci.sandbox.user_posts == []

    resci.to_done()
    done = await console.run()
    assert done.status == "ok", done.message
    assert done.counts.delivered == 10_000
    assert "completed: 10,000 imported, 0 rejected" in done.message
    [recorded] = jobs(console)
    assert (recorded.status, recorded.imported, recorded.rejected) == ("completed", 10_000, 0)
    assert member_count(console) == 10_000
    assert not any(files[0].parent.iterdir())  # no orphan files
    with console.store.read() as conn:
        [today] = daily_summary(conn, "resci-main", 1)
        history = runs_page(conn, "resci-main")
    assert (today.completions, today.failures, today.queued) == (10_000, 0, 0)
    assert history[0].delivered == 10_000
    assert history[-1].added == 10_000

    again = await console.run()
    assert again.status == "ok"
    assert len(resci.sandbox.jobs) == 1
    assert resci.sandbox.user_posts == []


async def test_job_polled_through_queued_processing_completed(
    console: Console, resci: Resci
) -> None:
    console.contacts([contact(i) for i in range(5)])
    console.apply(destination_toml(resci.url))
    states = []
    for step in (lambda: None, resci.to_processing, lambda: None, resci.to_done):
        step()
        result = await console.run()
        states.append(jobs(console)[0].status)
        assert result.status == "ok", result.message
    assert states == ["queued", "processing", "processing", "completed"]
    # One upload, then one status read per later run: ReSci is never asked in a loop.
    assert resci.sandbox.requests == 4


async def test_failed_job_is_final_and_the_next_run_starts_a_fresh_one(
    console: Console, resci: Resci
) -> None:
    console.contacts([contact(i) for i in range(5)])
    console.apply(destination_toml(resci.url))
    resci.sandbox.fail_next_job = True
    resci.sandbox.fail_next_job_message = "import failed: file could not be processed"
    assert (await console.run()).status == "ok"
    resci.to_processing()
    assert jobs(console)[0].status == "queued"
    await console.run()
    assert jobs(console)[0].status == "processing"
    resci.to_done()

    failed = await console.run()
    assert failed.status == "failed"
    assert "import failed: file could not be processed" in failed.message
    assert "next run starts a new import job" in failed.message
    [recorded] = jobs(console)
    assert (recorded.status, recorded.message) == (
        "failed",
        "import failed: file could not be processed",
    )
    assert resci.sandbox.user_posts == []
    assert member_count(console) == 0  # nothing was imported, so nobody counts as a member

    retry = await console.run()
    assert retry.status == "ok", retry.message
    assert [j.status for j in jobs(console)] == ["queued", "failed"]
    assert len(resci.sandbox.jobs) == 2
    resci.to_done()
    done = await console.run()
    assert done.counts.delivered == 5
    assert [j.status for j in jobs(console)] == ["completed", "failed"]


async def test_rows_resci_rejects_become_per_email_failures_and_can_be_retried(
    console: Console, resci: Resci
) -> None:
    console.contacts([contact(i) for i in range(10)])
    console.apply(destination_toml(resci.url))
    resci.sandbox.faults.reject_emails = {"user3@gmail.com", "user7@gmail.com"}
    await console.run()
    resci.to_done()
    done = await console.run()
    assert done.status == "partial"  # some rows failed: the run says so
    assert (done.counts.delivered, done.counts.rejected) == (8, 2)
    [recorded] = jobs(console)
    assert (recorded.imported, recorded.rejected) == (8, 2)
    with console.store.read() as conn:
        failures = failures_page(conn, FailureFilter(destination="resci-main"))
        [today] = daily_summary(conn, "resci-main", 1)
    assert sorted(f.email for f in failures) == ["user3@gmail.com", "user7@gmail.com"]
    assert {f.kind for f in failures} == {RowKind.IMPORT_ROW}
    assert {f.feedback for f in failures} == {
        "rejected: user3@gmail.com is on the sandbox's reject list",
        "rejected: user7@gmail.com is on the sandbox's reject list",
    }
    assert (today.completions, today.failures) == (8, 2)

    # The operator clears the problem and retries: each row goes as a user update.
    resci.sandbox.faults.reject_emails = set()
    with console.store.write() as conn:
        assert requeue_failures(conn, failure_ids(conn, FailureFilter("resci-main"))) == 2
    retried = await console.run()
    assert retried.status == "ok", retried.message
    assert retried.counts.delivered == 2
    sent = posts(resci)
    assert set(sent) == {"user3@gmail.com", "user7@gmail.com"}
    assert sent["user3@gmail.com"] == {
        "record_id": md5("user3@gmail.com"),
        "email": "user3@gmail.com",
        "account_created_on": "2024-01-02",
        "full_name": "First3",
        "city": "Los Angeles",
        ATTRIBUTE: True,
    }
    with console.store.read() as conn:
        assert failures_page(conn, FailureFilter(destination="resci-main")) == []


# -- after the backfill: real-time enter, change, exit ---------------------------------------------


async def test_no_user_update_before_the_backfill_completes_then_enter_change_exit(
    console: Console, resci: Resci
) -> None:
    console.contacts([contact(i) for i in range(6)] + [contact(100, state="NY")])
    console.apply(destination_toml(resci.url))
    await console.run()
    # While the job is pending: one enters, one leaves, one changes a mapped field.
    console.contacts(
        [
            contact(100),  # NY -> CA: enters
            contact(1, state="NY"),  # leaves
            contact(2, first_name="Renamed"),  # changes
            contact(3, last_name="Unmapped"),  # changes a field ReSci is not sent
        ]
    )
    resci.to_processing()
    pending = await console.run()
    assert "user updates wait" in pending.message
    assert resci.sandbox.user_posts == []
    assert console.outbox(RowKind.USER_UPDATE) == []

    resci.to_done()
    done = await console.run()
    assert done.status == "ok", done.message
    assert (done.counts.added, done.counts.changed, done.counts.removed) == (1, 1, 1)
    sent = posts(resci)
    assert set(sent) == {"user100@gmail.com", "user1@gmail.com", "user2@gmail.com"}
    assert sent["user100@gmail.com"][ATTRIBUTE] is True
    assert sent["user100@gmail.com"]["full_name"] == "First100"
    assert sent["user2@gmail.com"]["full_name"] == "Renamed"
    assert sent["user1@gmail.com"] == {
        "record_id": md5("user1@gmail.com"),
        "email": "user1@gmail.com",
        "account_created_on": "2024-01-02",
        ATTRIBUTE: False,
    }
    assert {r["kind"] for r in console.outbox()} == {RowKind.USER_UPDATE}

    quiet = await console.run()
    assert len(resci.sandbox.user_posts) == 3 and quiet.counts.delivered == 0

    console.contacts([contact(1)])  # comes back with the same fields: enters again
    back = await console.run()
    assert back.counts.added == 1
    assert resci.sandbox.user_posts[-1]["email"] == "user1@gmail.com"
    assert resci.sandbox.user_posts[-1][ATTRIBUTE] is True
    assert len(resci.sandbox.jobs) == 1


async def test_exit_mode_unsubscribe_sets_date_unsubscribed(console: Console, resci: Resci) -> None:
    console.contacts([contact(i) for i in range(3)])
    console.apply(destination_toml(resci.url, exit_mode="unsubscribe"))
    await backfill(console, resci)
    console.contacts([contact(0, domain="gmail.com", state="TX")])
    await console.run()
    [post] = resci.sandbox.user_posts
    assert post[ATTRIBUTE] is False
    assert post["date_unsubscribed"] == clock.today()


async def test_empty_audience_needs_no_job_and_members_flow_in_real_time(
    console: Console, resci: Resci
) -> None:
    console.contacts([contact(1, state="NY")])
    console.apply(destination_toml(resci.url))
    first = await console.run()
    assert first.status == "ok", first.message
    assert "no members" in first.message
    assert resci.sandbox.jobs == {}
    assert jobs(console)[0].status == "completed"
    console.contacts([contact(1)])
    second = await console.run()
    assert second.counts.added == 1 and second.counts.delivered == 1
    assert posts(resci)["user1@gmail.com"][ATTRIBUTE] is True


# -- resuming ------------------------------------------------------------------------------------


async def test_restart_during_a_pending_job_polls_the_same_job(
    console: Console, resci: Resci
) -> None:
    console.contacts([contact(i) for i in range(20)])
    console.apply(destination_toml(resci.url))
    await console.run()
    path = console.store.path
    assert path is not None
    console.store.dispose()

    for step, expected in ((resci.to_processing, "processing"), (resci.to_done, "completed")):
        step()
        restarted = open_store(path)  # a new process: a new store object on the same file
        console.store = restarted
        result = await console.run()
        assert result.status == "ok", result.message
        assert jobs(console)[0].status == expected
        restarted.dispose()
    assert len(resci.sandbox.jobs) == 1
    assert len(jobs(console)) == 1


@pytest.mark.parametrize("built", [True, False], ids=["file-built", "file-not-built"])
async def test_crash_before_the_upload_was_recorded_uploads_once(
    console: Console, resci: Resci, built: bool
) -> None:
    """A process that died after recording `uploading` (with or without its file) leaves one
    job row without a remote id; the next run finishes that job: one upload, same name."""
    console.contacts([contact(i) for i in range(4)])
    console.apply(destination_toml(resci.url))
    destination = console.destination()
    with console.store.read() as conn:
        export = resolved(conn, destination.settings.export)
    context = run_context(console.store, destination, 0, RunCounts(), None)  # type: ignore[arg-type]
    job = poller._new_job(context, export)
    if built:
        poller.build(context, export, job)
    assert jobs(console)[0].status == "uploading"

    result = await console.run()
    assert result.status == "ok", result.message
    assert [j.filename for j in resci.sandbox.jobs.values()] == ["users-resci-main-1.csv"]
    [recorded] = jobs(console)
    assert (recorded.status, recorded.remote_id, recorded.rows) == ("queued", "job_1", 4)
    resci.to_done()
    assert (await console.run()).counts.delivered == 4


async def test_upload_refused_with_503_is_uploaded_again_by_the_next_run(
    console: Console, resci: Resci
) -> None:
    console.contacts([contact(i) for i in range(4)])
    console.apply(destination_toml(resci.url))
    resci.sandbox.faults.error_rate = 1.0
    refused = await console.run()
    assert refused.status == "failed"
    assert "uploads the file again" in refused.message
    assert jobs(console)[0].status == "uploading"
    resci.sandbox.faults.error_rate = 0.0
    result = await console.run()
    assert result.status == "ok", result.message
    assert len(resci.sandbox.jobs) == 1 and len(jobs(console)) == 1


async def test_status_request_answered_503_is_asked_again_next_run(
    console: Console, resci: Resci
) -> None:
    console.contacts([contact(i) for i in range(4)])
    console.apply(destination_toml(resci.url))
    await console.run()
    resci.to_done()
    resci.sandbox.faults.error_rate = 1.0
    unsure = await console.run()
    assert unsure.status == "ok"
    assert "asking again next run" in unsure.message
    assert jobs(console)[0].status == "queued"
    resci.sandbox.faults.error_rate = 0.0
    assert (await console.run()).counts.delivered == 4


# -- edits ---------------------------------------------------------------------------------------


async def test_rule_edit_sends_exits_and_entries_without_a_new_job(
    console: Console, resci: Resci
) -> None:
    console.contacts([contact(i) for i in range(4)] + [contact(9, domain="yahoo.com")])
    console.apply(destination_toml(resci.url))
    await backfill(console, resci)
    console.apply(
        destination_toml(resci.url, rule="address_state = CA and email_domain != gmail.com")
    )
    result = await console.run()
    assert (result.counts.added, result.counts.removed) == (1, 4)
    sent = posts(resci)
    assert sent["user9@yahoo.com"][ATTRIBUTE] is True
    assert all(sent[f"user{i}@gmail.com"][ATTRIBUTE] is False for i in range(4))
    assert len(resci.sandbox.jobs) == 1


async def test_mapping_edit_starts_a_new_backfill_job_with_the_new_columns(
    console: Console, resci: Resci
) -> None:
    console.contacts([contact(i) for i in range(3)])
    console.apply(destination_toml(resci.url))
    await backfill(console, resci)
    fields = {"first_name": "full_name", "address_city": "city", "address_state": "state"}
    console.apply(destination_toml(resci.url, fields=fields))
    console.contacts([contact(50)])
    pending = await console.run()
    assert "queued" in pending.message
    assert resci.sandbox.user_posts == []  # real-time waits for the new job
    new_job = resci.sandbox.jobs["job_2"]
    assert new_job.columns[3:] == ["full_name", "city", "state", ATTRIBUTE]
    assert new_job.row_count == 4
    resci.to_done()
    done = await console.run()
    assert done.counts.delivered == 4
    assert resci.sandbox.user_posts == []  # the new job carried everyone, user50 included


async def test_switching_audience_tells_the_old_audience_members_they_left(
    console: Console, resci: Resci
) -> None:
    console.contacts([contact(i) for i in range(3)] + [contact(7, domain="yahoo.com")])
    toml = destination_toml(resci.url, extra_audiences={"yahoo": "email_domain = yahoo.com"})
    console.apply(toml)
    await backfill(console, resci)
    console.apply(toml.replace('audience = "california-gmail"', 'audience = "yahoo"'))
    await console.run()
    assert resci.sandbox.user_posts == []
    resci.to_done()
    done = await console.run()
    assert done.counts.removed == 3
    sent = posts(resci)
    assert set(sent) == {f"user{i}@gmail.com" for i in range(3)}
    assert all(p[ATTRIBUTE] is False for p in sent.values())
    assert resci.sandbox.jobs["job_2"].columns[-1] == "audience_yahoo"
    assert member_count(console) == 1


# -- authorisation ---------------------------------------------------------------------------------


async def test_wrong_api_key_halts_the_run_in_plain_words(console: Console, resci: Resci) -> None:
    console.contacts([contact(1)])
    console.apply(destination_toml(resci.url, api_key="not-the-key"))
    result = await console.run()
    assert result.status == "failed"
    assert result.message == ("ReSci refused the API key 'production key' (401): Invalid API key")
    assert resci.sandbox.jobs == {}


async def test_connection_test_reads_the_site_id(console: Console, resci: Resci) -> None:
    console.apply(destination_toml(resci.url))
    service = EngineService(console.store)
    assert await service.test_connection("resci-main") == "Site ID 4242 confirmed"

    console.apply(destination_toml(resci.url, api_key="wrong"))
    with pytest.raises(ConnectionTestFailed) as refused:
        await service.test_connection("resci-main")
    assert str(refused.value) == (
        "ReSci refused the API key 'production key' (401): Invalid API key"
    )

    adapter = ResciAdapter(resci.url, API_KEY, "99")
    async with httpx.AsyncClient() as client:
        with pytest.raises(ConnectionTestFailed, match="belongs to Site ID 4242"):
            await adapter.test_connection(client)
        resci.sandbox.faults.malformed_every = 1
        with pytest.raises(ConnectionTestFailed, match="no site_id"):
            await ResciAdapter(resci.url, API_KEY, "4242").test_connection(client)


def test_backfill_file_streams_rows_in_chunks(console: Console, tmp_path: Path) -> None:
    """The build reads contacts a chunk at a time: a chunk size of 7 still writes all 20."""
    console.contacts([contact(i) for i in range(20)])
    console.apply(destination_toml("http://127.0.0.1:9"))
    with console.store.read() as conn:
        export = resolved(conn, console.destination().settings.export)
        partitions = contact_partitions(conn, export.columns, 7)
        built = write_backfill_file(export, partitions, tmp_path / "users-x.csv")
    assert built.rows == 20
    lines = (tmp_path / "users-x.csv").read_text().splitlines()
    assert len(lines) == 21
    side = (tmp_path / "users-x.csv.members").read_text().splitlines()
    assert len(side) == 20


def test_both_ways_of_streaming_contacts_give_the_same_rows(console: Console) -> None:
    """SQLite reads the driver cursor; other databases use SQLAlchemy's server-side cursor."""
    console.contacts([contact(i) for i in range(12)])
    stmt = select(CONTACTS.c.id, CONTACTS.c.email).order_by(CONTACTS.c.seq)
    with console.store.read() as conn:
        fast = [tuple(r) for chunk in stream_rows(conn, stmt) for r in chunk]
        portable = [
            tuple(r) for chunk in stream_rows(conn, stmt, driver_cursor=False) for r in chunk
        ]
    assert fast == portable and len(fast) == 12


async def test_an_export_of_a_removed_audience_halts_with_the_reason(
    console: Console, resci: Resci
) -> None:
    console.contacts([contact(1)])
    console.apply(destination_toml(resci.url))
    with console.store.write() as conn:
        conn.execute(AudienceMember.__table__.delete())
        conn.exec_driver_sql("DELETE FROM audiences")
    result = await console.run()
    assert result.status == "failed"
    assert result.message == (
        "the exported audience 'california-gmail' does not exist; add it (config apply) or "
        "pick another audience"
    )


async def test_delta_preview_lists_who_the_next_run_tells(console: Console, resci: Resci) -> None:
    from state.members import member_count

    console.contacts([contact(i) for i in range(4)])
    console.apply(destination_toml(resci.url))
    await backfill(console, resci)
    console.contacts([contact(0, state="NY"), contact(1, first_name="New"), contact(8)])
    destination = console.destination()
    with console.store.read() as conn:
        export = resolved(conn, destination.settings.export)
        chunks = list(preview_delta(Session(conn, destination.id, 0), export))
        assert member_count(conn, destination.id) == 4
    preview = {
        change: sorted(r["email"] for c in chunks for r in getattr(c, change))
        for change in ("entered", "changed", "left")
    }
    assert preview == {
        "entered": ["user8@gmail.com"],
        "changed": ["user1@gmail.com"],
        "left": ["user0@gmail.com"],
    }
    result = await console.run()
    assert (result.counts.added, result.counts.changed, result.counts.removed) == (1, 1, 1)


async def test_upload_carries_one_idempotency_key_per_job_and_file(
    resci: Resci, tmp_path: Path
) -> None:
    """The key is the same for the same job and bytes, new for another job or other bytes;
    ReSci answering 409 (the first upload still being taken in) is asked again later."""
    users = tmp_path / "users-main-1.csv"
    users.write_text("record_id,email,account_created_on\nr1,ann@example.com,2024-01-02\n")
    key = import_idempotency_key(1, 1, users)
    assert key == import_idempotency_key(1, 1, users)
    assert key != import_idempotency_key(1, 2, users)
    adapter = ResciAdapter(resci.url, API_KEY, "4242")
    async with httpx.AsyncClient() as client:
        first = await adapter.start_import(client, users, users.name, key)
        assert await adapter.start_import(client, users, users.name, key) == first
        assert len(resci.sandbox.jobs) == 1

        users.write_text(users.read_text() + "r2,bob@example.com,2024-01-03\n")
        assert import_idempotency_key(1, 1, users) != key
        with pytest.raises(ImportJobError) as reused:
            await adapter.start_import(client, users, users.name, key)
        assert (reused.value.http_status, reused.value.retryable) == (422, False)

    def busy(request: httpx.Request) -> httpx.Response:
        assert request.headers["Idempotency-Key"] == key
        return httpx.Response(409, json={"message": "a request with this key is in progress"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(busy)) as client:
        with pytest.raises(ImportJobError) as in_progress:
            await adapter.start_import(client, users, users.name, key)
    assert in_progress.value.retryable
    assert "in progress" in str(in_progress.value)
