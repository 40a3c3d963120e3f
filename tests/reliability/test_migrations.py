"""Migrations: a store written by the previous release opens and upgrades in place, with a
backup; one from a newer release, a foreign SQLite file and a file that is not SQLite at all
are refused with a clear message and left untouched.

"The previous release" is `data/schema_v1.sql`, the schema release 0.1 writes, frozen as
text. This release is schema 2 (destination ids never reused: the table is rebuilt with
AUTOINCREMENT). The upgrade tests also register a step to a schema after this one, the way the
next release will (bump `SCHEMA_VERSION`, add a step to `MIGRATIONS`): it adds a column with a
default, so a v1 store runs every real step and that one. `test_current_models_match_the_
frozen_schema` is the guard that makes this honest: a model change without a migration fails
it.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, inspect
from sqlmodel import SQLModel

import state.db
from console.engine.commands import Commands
from console.engine.destinations import get_destination
from state.db import StoreError, open_store
from state.migrations import backup_path

from .conftest import run_cli

SCHEMA_V1 = Path(__file__).with_name("data") / "schema_v1.sql"
CURRENT = state.db.SCHEMA_VERSION  # this release's schema
NEXT = CURRENT + 1  # the next release's, as the fixture below simulates it
NOTE_DEFAULT = "kept since 0.1"

# What the previous release wrote, row by row (plain SQL, as that release's code did).
V1_ROWS = [
    "INSERT INTO destinations (id, name, kind, enabled, paused, settings, created_at, updated_at,"
    " healthy, consecutive_failures) VALUES (1, 'seg', 'segment', 1, 0,"
    ' \'{"kind": "segment", "write_key": "env:SEGMENT_KEY", "endpoint": "https://api.segment.io"}\','
    " '2024-04-01T00:00:00.000Z', '2024-04-01T00:00:00.000Z', 1, 0)",
    "INSERT INTO contacts (id, email, email_domain, first_name, content_hash, seq) VALUES"
    " (1, 'ann@example.com', 'example.com', 'Ann', 'h1', 1),"
    " (2, 'bob@example.com', 'example.com', 'Bob', 'h2', 2)",
    "INSERT INTO events (seq, message_id, event, email, properties, timestamp) VALUES"
    " (1, 'm-1', 'Order Completed', 'ann@example.com', '{}', '2024-04-16T16:54:10.519Z')",
    "INSERT INTO audiences (id, name, rule, updated_at) VALUES"
    " (1, 'ca', 'address_state = ''CA''', '2024-04-01T00:00:00.000Z')",
    "INSERT INTO cursors (destination_id, stream, position) VALUES (1, 'events', 1)",
    "INSERT INTO outbox (id, destination_id, kind, message_id, email, payload, status, attempts,"
    " next_attempt_at, created_at, updated_at, day) VALUES (1, 1, 'track', 'm-1',"
    " 'ann@example.com', X'7B7D', 'queued', 0, '2024-04-16T00:00:00.000Z',"
    " '2024-04-16T00:00:00.000Z', '2024-04-16T00:00:00.000Z', '2024-04-16')",
    "INSERT INTO sync_runs VALUES (1, 1, 'run-once', 'ok', '2024-04-15T00:00:00.000Z',"
    " '2024-04-15T00:01:00.000Z', 5, 0, 0, 5, 0, 0, 0, 0, 0, 1, 'seg: ok - 5 delivered')",
    "INSERT INTO daily_stats VALUES (1, '2024-04-15', 5, 0, 0, 0)",
]
TABLES = (
    "destinations",
    "contacts",
    "events",
    "audiences",
    "cursors",
    "outbox",
    "sync_runs",
    "daily_stats",
)


def previous_release_store(path: Path, *, keep_open: bool = False) -> sqlite3.Connection | None:
    """A 0600 store file as release 0.1 leaves it: schema 1, WAL, some rows of every kind.
    With `keep_open` the last rows stay in the WAL (no checkpoint) and the connection is
    returned, as if that release were still running."""
    path.touch(mode=0o600)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(SCHEMA_V1.read_text())
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    for statement in V1_ROWS:
        conn.execute(statement)
    if keep_open:
        return conn
    conn.close()
    return None


def table_rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(path)
    try:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in TABLES}
    finally:
        conn.close()


def version_of(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT version FROM schema_info").fetchone()[0])
    finally:
        conn.close()


def columns_of(path: Path, table: str) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    finally:
        conn.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def add_note_column(conn: Connection) -> None:
    """The v1 -> v2 step of the next release: a column with a default."""
    conn.exec_driver_sql(
        f"ALTER TABLE destinations ADD COLUMN note VARCHAR NOT NULL DEFAULT '{NOTE_DEFAULT}'"
    )


@pytest.fixture
def next_release(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[int, object]]:
    """This code as the next release: schema NEXT, with a CURRENT -> NEXT step."""
    monkeypatch.setattr(state.db, "SCHEMA_VERSION", NEXT)
    monkeypatch.setitem(state.db.MIGRATIONS, CURRENT, add_note_column)
    yield state.db.MIGRATIONS


def test_current_models_match_the_frozen_schema(tmp_path: Path) -> None:
    """A store of the previous release opens with this release and has every table and column
    the models use: a model change that forgot its migration fails here."""
    db = tmp_path / "console.db"
    previous_release_store(db)
    store = open_store(db)
    try:
        inspector = inspect(store.engine)
        for table in SQLModel.metadata.sorted_tables:
            assert inspector.has_table(table.name), f"{table.name}: new table, no migration"
            stored = {c["name"] for c in inspector.get_columns(table.name)}
            missing = {c.name for c in table.columns} - stored
            assert not missing, f"{table.name}: columns {missing} added without a migration"
    finally:
        store.dispose()
    assert version_of(db) == state.db.SCHEMA_VERSION == 3


def test_v1_destinations_upgrade_to_ids_never_reused(tmp_path: Path) -> None:
    """Schema 1 -> 2 rebuilds `destinations` with AUTOINCREMENT, keeping every row and every
    row that points at one; foreign keys are enforced again afterwards."""
    db = tmp_path / "console.db"
    previous_release_store(db)
    before = table_rows(db)
    store = open_store(db)
    try:
        with store.read() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").first() is None
            record = get_destination(conn, "seg")
        assert record is not None and record.id == 1
        Commands(store).remove_destination("seg")
        saved = Commands(store).save_destination("seg-again", record.settings)
    finally:
        store.dispose()
    assert saved.id == 2  # id 1 belonged to the removed destination: never given again
    conn = sqlite3.connect(db)
    try:
        (sql,) = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'destinations'"
        ).fetchone()
    finally:
        conn.close()
    assert "AUTOINCREMENT" in sql
    assert version_of(db) == CURRENT
    assert table_rows(backup_path(db, 1)) == before


def test_run_outcomes_get_their_words_partial_and_failed(tmp_path: Path) -> None:
    """Schema 2 -> 3: a run stored `failed` (it worked, rows refused or left queued) reads
    `partial`; one stored `error` (it could not work) reads `failed`; the others stay."""
    db = tmp_path / "console.db"
    previous_release_store(db)
    conn = sqlite3.connect(db, isolation_level=None)
    for run_id, status in ((2, "failed"), (3, "error"), (4, "interrupted")):
        conn.execute(
            "INSERT INTO sync_runs (id, destination_id, trigger, status, started_at, added,"
            " changed, removed, delivered, rejected, suppressed, skipped, filtered, retrying,"
            f" requests) VALUES ({run_id}, 1, 'schedule', '{status}',"
            " '2024-04-15T00:00:00.000Z', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)"
        )
    conn.close()
    open_store(db).dispose()
    conn = sqlite3.connect(db)
    try:
        statuses = conn.execute("SELECT id, status FROM sync_runs ORDER BY id").fetchall()
    finally:
        conn.close()
    assert statuses == [(1, "ok"), (2, "partial"), (3, "failed"), (4, "interrupted")]


def test_previous_release_store_upgrades_in_place_with_a_backup(
    tmp_path: Path, next_release: dict[int, object]
) -> None:
    db = tmp_path / "console.db"
    previous_release_store(db)
    before = table_rows(db)

    store = open_store(db)
    store.dispose()

    assert version_of(db) == NEXT
    assert "note" in columns_of(db, "destinations")
    after = table_rows(db)
    assert {t: rows for t, rows in after.items() if t != "destinations"} == {
        t: rows for t, rows in before.items() if t != "destinations"
    }
    assert after["destinations"] == [(*row, NOTE_DEFAULT) for row in before["destinations"]]
    assert stat.S_IMODE(db.stat().st_mode) == 0o600

    backup = backup_path(db, 1)
    assert backup.name == "console.db.v1.bak"
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert version_of(backup) == 1
    assert "note" not in columns_of(backup, "destinations")
    assert table_rows(backup) == before
    assert not list(tmp_path.glob("*.partial"))

    # Opening again changes nothing more: the backup stays the v1 copy.
    stamp = digest(backup)
    open_store(db).dispose()
    assert digest(backup) == stamp and version_of(db) == NEXT


def test_backup_holds_rows_still_in_the_wal(
    tmp_path: Path, next_release: dict[int, object]
) -> None:
    """The previous release crashed (or runs on): its last rows are only in the WAL."""
    db = tmp_path / "console.db"
    writer = previous_release_store(db, keep_open=True)
    assert writer is not None
    try:
        assert Path(f"{db}-wal").stat().st_size > 0
        before = table_rows(db)
        open_store(db).dispose()
    finally:
        writer.close()
    assert table_rows(backup_path(db, 1)) == before
    assert version_of(db) == NEXT


def test_a_failing_step_leaves_the_store_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def half_done(conn: Connection) -> None:
        add_note_column(conn)
        conn.exec_driver_sql("UPDATE contacts SET first_name = 'changed'")
        raise RuntimeError("disk said no")

    monkeypatch.setattr(state.db, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(state.db.MIGRATIONS, 1, half_done)
    db = tmp_path / "console.db"
    previous_release_store(db)
    before = table_rows(db)
    with pytest.raises(StoreError) as caught:
        open_store(db)
    message = str(caught.value)
    assert "upgrading from schema 1 to 2 failed: disk said no" in message
    assert "the store was not changed" in message and "console.db.v1.bak" in message
    assert version_of(db) == 1
    assert table_rows(db) == before
    assert "note" not in columns_of(db, "destinations")


def test_a_missing_step_is_refused_before_anything_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The steps up to this release exist; the one to the next does not.
    monkeypatch.setattr(state.db, "SCHEMA_VERSION", NEXT)
    assert CURRENT not in state.db.MIGRATIONS
    db = tmp_path / "console.db"
    previous_release_store(db)
    with pytest.raises(StoreError, match=f"cannot upgrade a schema {CURRENT} store"):
        open_store(db)
    assert version_of(db) == 1
    assert not backup_path(db, 1).exists()


def _open(path: str, barrier: object, results: object) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    try:
        open_store(path).dispose()
        results.put("ok")  # type: ignore[attr-defined]
    except Exception as exc:
        results.put(f"{type(exc).__name__}: {exc}")  # type: ignore[attr-defined]


def test_processes_upgrading_at_once_upgrade_once(
    tmp_path: Path, next_release: dict[int, object]
) -> None:
    """Cron and the console start together after an upgrade of the package: the step runs
    once (a second ALTER TABLE would fail), and the backup is the v1 store."""
    db = tmp_path / "console.db"
    previous_release_store(db)
    before = table_rows(db)
    context = multiprocessing.get_context("fork")  # the children inherit the next release
    barrier = context.Barrier(4)
    results = context.Queue()
    workers = [context.Process(target=_open, args=(str(db), barrier, results)) for _ in range(4)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert outcomes == ["ok"] * 4, outcomes
    assert version_of(db) == NEXT
    assert version_of(backup_path(db, 1)) == 1
    assert table_rows(backup_path(db, 1)) == before


# -- refused files ----------------------------------------------------------------------------


def test_a_store_from_a_newer_release_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "console.db"
    previous_release_store(db)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE schema_info SET version = 7")
    conn.commit()
    conn.close()
    stamp = digest(db)
    with pytest.raises(StoreError) as caught:
        open_store(db)
    assert str(caught.value) == (
        f"{db} was written by a newer release (schema 7, this release knows {CURRENT}); "
        "upgrade retention-console"
    )
    result = run_cli("--db", str(db), "summary")
    assert result.returncode == 2
    assert "written by a newer release (schema 7" in result.stderr
    assert "Traceback" not in result.stderr
    assert digest(db) == stamp
    assert not backup_path(db, 7).exists()


def test_a_foreign_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "other-app.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers (name) VALUES ('Ann')")
    conn.commit()
    conn.close()
    stamp = digest(db)
    with pytest.raises(StoreError, match="holds tables that are not a Retention Console store"):
        open_store(db)
    result = run_cli("--db", str(db), "--run-once")
    assert result.returncode == 2
    assert f"error: {db} holds tables that are not a Retention Console store" in result.stderr
    # Not even switched to WAL: the operator's other database is exactly as it was.
    assert digest(db) == stamp
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other-app.db"]


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"email,first_name\nann@example.com,Ann\n", "not an SQLite database"),
        (b"SQLite format 3\x00" + b"\xff" * 200, "is not a usable store"),
    ],
    ids=["a CSV file", "a truncated SQLite file"],
)
def test_a_file_that_is_no_store_is_refused_untouched(
    tmp_path: Path, content: bytes, says: str
) -> None:
    db = tmp_path / "console.db"
    db.write_bytes(content)
    with pytest.raises(StoreError, match=says):
        open_store(db)
    result = run_cli("--db", str(db), "history")
    assert result.returncode == 2 and says in result.stderr
    assert "Traceback" not in result.stderr
    assert db.read_bytes() == content
