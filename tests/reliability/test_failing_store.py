"""A store that cannot be written (read-only file or directory) and a full disk: every command
says so in one line on stderr and exits 2; no SQL parameter (a write key, a customer row)
reaches the output; nothing is lost; a run whose closing write failed is closed as
`interrupted` on the next start, and History counts only what committed.

The read-only cases run the command as a real process; under root (which ignores file modes)
as the unprivileged user `nobody`. The full disk is SQLite's own: `PRAGMA max_page_count` on
every connection the command opens, so the writes fail with SQLITE_FULL ("database or disk
is full") exactly where a full disk makes them fail.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import Pool

from console.cli import main
from console.engine import runner
from console.engine.service import EngineService
from console.sandbox import SegmentSandbox
from state.db import open_store
from state.history import runs_page
from tests.reliability.conftest import (
    ROOT,
    WRITE_KEY,
    cli_command,
    cli_env,
    seed_segment_store,
    segment_toml,
    sqlite_scalar,
)

NOBODY = 65534
CUSTOMER = "ada.lovelace.customer@example.com"


def as_unprivileged(*args: str) -> subprocess.CompletedProcess[str]:
    """`retention-console ARGS` as a process that file modes apply to (`nobody` under root,
    through util-linux's setpriv)."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: file modes cannot be tested")
        prefix = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    return subprocess.run(
        [*prefix, *cli_command(*args)],
        capture_output=True,
        text=True,
        env=cli_env({"HOME": "/tmp"}),
        cwd=ROOT,
        timeout=90,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if not line.startswith("warning: ")]


def assert_one_line(result: subprocess.CompletedProcess[str] | Result, *hidden: str) -> str:
    """Exit 2, one `error:` line on stderr naming the cause, no traceback, nothing hidden."""
    stderr = result.stderr
    lines = error_lines(stderr)
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: store "), stderr
    output = stderr + result.stdout
    assert "Traceback" not in output and "[SQL" not in output and "INSERT" not in output
    for secret in hidden:
        assert secret not in output
    return lines[0]


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory `nobody` may enter (pytest's own temporary tree is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="retention-ro-"))
    folder.chmod(0o755)
    yield folder
    for path in folder.rglob("*"):
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(folder)


@pytest.fixture
def read_only_store(open_dir: Path) -> Iterator[Path]:
    """A store with a destination, a failed row (for `retry`) and one contact, then made
    read-only: the file 0444 (its WAL files kept writable, so it opens and reads, and only a
    write fails, as the issue found it), readable through a directory `nobody` may enter."""
    tmp_path = open_dir
    db = tmp_path / "ro.db"
    store = open_store(db)
    try:
        from console.config import apply_config
        from console.ingest import import_contacts

        config = tmp_path / "config.toml"
        config.write_text(segment_toml("http://127.0.0.1:9", WRITE_KEY))
        apply_config(store, config)
        contacts = tmp_path / "c.csv"
        contacts.write_text(f"email,first_name\n{CUSTOMER},Ada\n")
        import_contacts(store, contacts)
        with store.write() as conn:
            at = "2024-04-16T00:00:00.000Z"
            conn.exec_driver_sql(
                "INSERT INTO outbox (destination_id, kind, message_id, email, payload, status, "
                "attempts, next_attempt_at, created_at, updated_at, day) SELECT id, 'track', "
                f"'m-1', 'x@example.com', x'7b7d', 'failed', 1, '{at}', '{at}', '{at}', "
                "'2024-04-16' FROM destinations"
            )
        # Keep the WAL files (a reader without its WAL index cannot open a WAL store at all).
        with store.read() as conn:
            conn.exec_driver_sql("SELECT count(*) FROM contacts").scalar()
            db.chmod(0o444)
            for suffix in ("-wal", "-shm"):
                Path(f"{db}{suffix}").chmod(0o666)
            yield db
    finally:
        store.dispose()


def test_failed_outbox_row_fixture_is_a_failure(read_only_store: Path) -> None:
    assert sqlite_scalar(read_only_store, "SELECT count(*) FROM outbox WHERE status='failed'") == 1


@pytest.mark.parametrize(
    "command",
    [
        ["config", "apply", "{config}"],
        ["import", "contacts", "{contacts}"],
        ["--run-once"],
        ["retry"],
        [],  # the console: refused before it draws
    ],
    ids=["config apply", "import", "run-once", "retry", "console"],
)
def test_a_read_only_store_is_one_line_and_exit_2(
    read_only_store: Path, open_dir: Path, command: list[str]
) -> None:
    tmp_path = open_dir
    config = tmp_path / "new-config.toml"
    config.write_text(segment_toml("http://127.0.0.1:9", WRITE_KEY, name="other"))
    contacts = tmp_path / "new.csv"
    contacts.write_text(
        "email,first_name\n" + "".join(f"n{i}.{CUSTOMER},Ada{i}\n" for i in range(10))
    )
    for path in (config, contacts):
        path.chmod(0o644)
    args = [part.format(config=config, contacts=contacts) for part in command]
    before = read_only_store.read_bytes()

    result = as_unprivileged(*args, "--db", str(read_only_store))

    assert result.returncode == 2, result.stderr
    line = assert_one_line(result, WRITE_KEY, CUSTOMER, "Ada0")
    assert "read-only" in line and str(read_only_store) in line
    assert read_only_store.read_bytes() == before


def test_a_store_in_a_read_only_directory_is_one_line_and_exit_2(open_dir: Path) -> None:
    tmp_path = open_dir
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "console.db"
    open_store(db).dispose()  # checkpointed on close: no WAL files left beside it
    db.chmod(0o666)
    folder.chmod(0o555)
    config = tmp_path / "config.toml"
    config.write_text(segment_toml("http://127.0.0.1:9", WRITE_KEY))
    config.chmod(0o644)
    try:
        result = as_unprivileged("config", "apply", str(config), "--db", str(db))
    finally:
        folder.chmod(0o755)
    assert result.returncode == 2, result.stderr
    assert "read-only" in assert_one_line(result, WRITE_KEY)


# -- a full disk ------------------------------------------------------------------------------


@contextmanager
def disk_full_at(db: Path, spare_pages: int) -> Iterator[None]:
    """Every connection opened meanwhile may grow the store by `spare_pages` pages at most;
    past that a write fails as on a full disk (SQLITE_FULL)."""
    pages = sqlite_scalar(db, "PRAGMA page_count")

    def limit(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages + spare_pages}")

    event.listen(Pool, "connect", limit)
    try:
        yield
    finally:
        event.remove(Pool, "connect", limit)


def cli(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_import_on_a_full_disk_is_one_line_exit_2_and_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "console.db"
    first = tmp_path / "first.csv"
    first.write_text(f"email,first_name\n{CUSTOMER},Ada\n")
    assert cli("import", "contacts", first, "--db", db).exit_code == 0
    big = tmp_path / "big.csv"
    big.write_text(
        "email,first_name\n" + "".join(f"u{i}.{CUSTOMER},Name{i}\n" for i in range(5_000))
    )
    before = sqlite_scalar(db, "SELECT count(*) FROM contacts")

    with disk_full_at(db, spare_pages=4):
        result = cli("import", "contacts", big, "--db", db)

    assert result.exit_code == 2, result.output
    line = assert_one_line(result, "u0." + CUSTOMER, "Name0")
    assert "disk is full" in line
    assert "rejected" not in result.output + result.stderr
    assert sqlite_scalar(db, "SELECT count(*) FROM contacts") == before
    assert sqlite_scalar(db, "PRAGMA integrity_check") == "ok"
    # Room again: the same file imports whole.
    assert cli("import", "contacts", big, "--db", db).exit_code == 0
    assert sqlite_scalar(db, "SELECT count(*) FROM contacts") == before + 5_000


def test_config_apply_on_a_full_disk_never_shows_the_key(tmp_path: Path) -> None:
    db = tmp_path / "console.db"
    open_store(db).dispose()
    config = tmp_path / "config.toml"
    # Enough destinations that their rows need pages the full disk does not have.
    config.write_text(
        "".join(segment_toml("http://127.0.0.1:9", WRITE_KEY, name=f"d{i}") for i in range(300))
    )
    with disk_full_at(db, spare_pages=0):
        result = cli("config", "apply", config, "--db", db)
    assert result.exit_code == 2, result.output
    assert "disk is full" in assert_one_line(result, WRITE_KEY)
    assert sqlite_scalar(db, "SELECT count(*) FROM destinations") == 0


def test_run_once_on_a_full_disk_loses_nothing_and_history_counts_what_committed(
    tmp_path: Path, segment_sandbox: tuple[SegmentSandbox, str]
) -> None:
    sandbox, url = segment_sandbox
    db = tmp_path / "console.db"
    ids = seed_segment_store(db, url, 3_000, write_key="test-write-key")

    with disk_full_at(db, spare_pages=2):
        result = cli("--run-once", "--db", db, "--max-wait", "1")

    assert result.exit_code == 2, result.output
    assert "disk is full" in assert_one_line(result, "user0@example.com")
    assert sandbox.message_count == 0
    # The plan step's transaction was rolled back: nothing queued, and History says so.
    assert sqlite_scalar(db, "SELECT count(*) FROM outbox") == 0
    assert sqlite_rows_of_runs(db) == [("interrupted", 0, 0)]

    again = cli("--run-once", "--db", db, "--max-wait", "1")
    assert again.exit_code == 0, again.output
    assert set(sandbox.message_ids) == ids
    assert sqlite_rows_of_runs(db) == [("ok", 3_000, 3_000), ("interrupted", 0, 0)]


def sqlite_rows_of_runs(db: Path) -> list[tuple[str, int, int]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT status, added, delivered FROM sync_runs ORDER BY id DESC"
        ).fetchall()
    finally:
        conn.close()


def _failing_close(*_args: object, **_kwargs: object) -> None:
    raise OperationalError(
        "UPDATE sync_runs ...",
        {"secret": WRITE_KEY},
        sqlite3.OperationalError("database or disk is full"),
    )


@pytest.mark.parametrize("next_start", ["run-once", "console engine"])
def test_a_run_whose_closing_write_failed_is_closed_as_interrupted_on_the_next_start(
    tmp_path: Path,
    segment_sandbox: tuple[SegmentSandbox, str],
    monkeypatch: pytest.MonkeyPatch,
    next_start: str,
) -> None:
    sandbox, url = segment_sandbox
    db = tmp_path / "console.db"
    ids = seed_segment_store(db, url, 200, write_key="test-write-key")
    with monkeypatch.context() as patched:
        patched.setattr(runner, "finish_run", _failing_close)
        result = cli("--run-once", "--db", db, "--max-wait", "1")
    assert result.exit_code == 2, result.output
    assert "disk is full" in assert_one_line(result, WRITE_KEY)
    # Delivered and booked (those writes committed); only the run's closing write failed.
    assert set(sandbox.message_ids) == ids
    assert sqlite_rows_of_runs(db) == [("running", 200, 200)]

    if next_start == "run-once":
        assert cli("--run-once", "--db", db, "--max-wait", "1").exit_code == 0
        assert sqlite_rows_of_runs(db)[1] == ("interrupted", 200, 200)
    else:
        store = open_store(db)

        async def start_engine() -> None:
            service = EngineService(store)
            service.start(paused=True)
            service.shutdown()

        try:
            asyncio.run(start_engine())
            with store.read() as conn:
                runs = runs_page(conn, "seg")
        finally:
            store.dispose()
        assert [(r.status, r.added, r.delivered) for r in runs] == [("interrupted", 200, 200)]
    assert sandbox.message_count == len(ids)  # nothing sent twice


def test_no_sql_parameter_reaches_an_error_message(tmp_path: Path) -> None:
    """Whatever a statement's failure says (here a bug's: an unknown column), its values are
    not in it; and it is not mistaken for a failing store."""
    store = open_store(tmp_path / "console.db")
    try:
        with pytest.raises(OperationalError) as failure, store.read() as conn:
            conn.exec_driver_sql("SELECT ? || no_such_column", (WRITE_KEY,))
    finally:
        store.dispose()
    assert WRITE_KEY not in str(failure.value)
    assert "parameters hidden" in str(failure.value)
