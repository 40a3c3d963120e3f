"""The store: one SQLAlchemy engine over SQLite (default) or any database URL.

SQLite specifics, and why:
- WAL so the console can read while `--run-once` writes from cron;
- `busy_timeout` so a writer waits for another instead of failing with "database is locked";
- write transactions start with `BEGIN IMMEDIATE`: a deferred transaction that upgrades from read
  to write can fail with SQLITE_BUSY at once, without waiting, when another writer got there first;
- the file is created with mode 0600 since it holds the company's customer list.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection as Connection  # re-exported, see below
from sqlalchemy import Engine, Table, create_engine, event, inspect, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlmodel import SQLModel, col

from state.errors import StoreError as StoreError  # re-exported: callers import them here
from state.errors import StoreFailed as StoreFailed
from state.errors import StoreMissing as StoreMissing
from state.migrations import STEPS, MigrationError, Step, upgrade
from state.models import SCHEMA_VERSION, SchemaInfo, table_of
from state.sharing import SLOT_INDEX, SLOT_INDEX_NAME, is_shared_store

# `Connection` (re-exported above) is the handle `Store.read()` and `Store.write()` give and every
# state/ function takes: other rooms hold it only to hand it back to state/, so they annotate it
# from here and never import SQLAlchemy themselves.

ENV_DB = "RETENTION_CONSOLE_DB"
BUSY_TIMEOUT_MS = 30_000
CACHE_KIB = 32 * 1024
"""SQLite's page cache per connection (a run holds a few) for runs, imports and reports. At
64 MiB a Grow run of 1,000,000 contacts peaked at 303-308 MB, past its 300 MB target (234-245
MB at 32), for a few per cent of speed, within the runs' noise (`python -m bench`:
12,801-14,181 contacts/s at 64 MiB, 12,632-13,432 at 32)."""
CONSOLE_CACHE_KIB = 64 * 1024
"""The console's, as before: a long-lived process that pages through the same History and
Failures rows again and again. Its first paint on 1,000,000 rows did not tell the two apart
(980-1,320 ms at 64 MiB, 1,050-1,270 ms at 32)."""
IN_CHUNK = 900
"""Values bound in one `IN (...)` list: under SQLite's historical limit of 999 parameters."""


_ADVICE = {
    "readonly": "it is read-only: make the file and its directory writable by this user",
    "full": "the disk is full (the change was rolled back, nothing is lost): free some space "
    "and run again",
}


# SQLite's primary result codes that mean the store itself failed (not the statement): a
# permission or read-only file, a lock held past busy_timeout, no memory, an I/O error, a
# corrupt file, a full disk, a file that cannot be opened, a WAL protocol error, not a database.
_STORE_CODES = {3, 5, 6, 7, 8, 10, 11, 13, 14, 15, 26}


def _is_store_failure(exc: OperationalError) -> bool:
    """True when the database says the store failed (read-only, full, I/O...), False for a
    statement's own error (SQLite's SQLITE_ERROR: a bug, not the disk), which stays as it is
    (its message without parameters, see `hide_parameters`). Other databases' drivers keep
    statement errors out of OperationalError."""
    code = getattr(exc.orig, "sqlite_errorcode", None)
    if code is None:
        return True
    return code & 0xFF in _STORE_CODES


def _failure(label: str, exc: OperationalError | sqlite3.OperationalError) -> StoreFailed:
    """The one line a failing store is reported with: the driver's words (never the SQL or
    its parameters: `exc.orig` is the driver's own exception) and what to do."""
    orig = exc.orig if isinstance(exc, OperationalError) else exc
    reason = str(orig) if orig is not None else type(exc).__name__
    lowered = reason.lower()
    if "readonly" in lowered or "read-only" in lowered:
        advice = _ADVICE["readonly"]
    elif "full" in lowered or "no space" in lowered:
        advice = _ADVICE["full"]
    else:
        advice = "it cannot be used"
    return StoreFailed(f"store {label}: {advice} ({reason.splitlines()[0] if reason else ''})")


def default_db_path() -> Path:
    """`$RETENTION_CONSOLE_DB`, else `console.db` under the user's data directory."""
    if env := os.environ.get(ENV_DB):
        return Path(env)
    from platformdirs import user_data_path

    return user_data_path("retention-console") / "console.db"


def _url_for(target: str | Path) -> tuple[str, Path | None]:
    text = str(target)
    if "://" in text:
        path = Path(text.split(":///", 1)[1]) if text.startswith("sqlite:///") else None
        return text, path
    path = Path(text).expanduser()
    return f"sqlite:///{path}", path


def world_readable(path: Path) -> bool:
    """True when users other than the owner may read the store file."""
    try:
        return bool(path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH))
    except FileNotFoundError:
        return False


def privacy_warning(store: Store) -> str | None:
    """What to tell the operator when the store file is readable by other users (it holds the
    customer list), or None."""
    if store.path is None or not world_readable(store.path):
        return None
    return f"{store.path} is readable by other users; run: chmod 600 {store.path}"


class Store:
    """Owns the engine; hands out read and write connections."""

    def __init__(self, engine: Engine, path: Path | None) -> None:
        self.engine = engine
        self.path = path

    @property
    def label(self) -> str:
        """What the header shows: the file path, or the URL without credentials."""
        if self.path is not None:
            return str(self.path)
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read connection. A store that fails (see `StoreFailed`) raises StoreFailed."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except OperationalError as exc:
            if not _is_store_failure(exc):
                raise
            raise _failure(self.label, exc) from None

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction; committed when the block ends, rolled back on error. A store
        that cannot be written (read-only, disk full) raises StoreFailed: this is the one
        place a driver's failure turns into the plain line every command prints."""
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(sqlite_begin="IMMEDIATE")
                with conn.begin():
                    yield conn
        except OperationalError as exc:
            if not _is_store_failure(exc):
                raise
            raise _failure(self.label, exc) from None

    def check_writable(self) -> None:
        """Raise StoreFailed unless a write would be accepted now (the console checks before
        it draws, so a read-only store is one line on stderr, not a console that cannot
        record its first run). Writes nothing: the probe is rolled back."""

        class _Probe(Exception):
            pass

        info = table_of(SchemaInfo)
        try:
            with self.write() as conn:
                conn.execute(update(info).values(version=info.c.version))
                raise _Probe
        except _Probe:
            pass

    def dispose(self) -> None:
        self.engine.dispose()


def _switch_to_wal(cur: sqlite3.Cursor) -> None:
    """`PRAGMA journal_mode = WAL`, waiting like busy_timeout would.

    Switching a new store (still in rollback-journal mode) to WAL needs the file to itself,
    and SQLite answers "database is locked" at once, without its busy handler, while another
    process has it open: two cron jobs starting on a fresh install hit that. Once the store is
    in WAL (the mode is kept in the file), the pragma is a no-op that never waits.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def _install_sqlite_hooks(engine: Engine, cache_kib: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        # Take over transaction control from pysqlite, so BEGIN is ours to issue.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _switch_to_wal(cur)
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA temp_store = MEMORY")
        cur.execute(f"PRAGMA cache_size = -{cache_kib}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def open_store(
    target: str | Path | None = None, *, create: bool = True, cache_kib: int = CACHE_KIB
) -> Store:
    """Open (and create or upgrade) the store at a path or database URL.

    Raises StoreError when the file is not a store of ours or is newer than this release; such
    a file is only read, never changed. Several processes may open (and create, or upgrade) the
    same store at once: exactly one of them creates the schema or runs the upgrade.
    `cache_kib`: SQLite's page cache per connection (the console asks for more).
    """
    url, path = _url_for(target if target is not None else default_db_path())
    if path is not None:
        try:
            path.stat()
            exists = True
        except FileNotFoundError:
            exists = False
        except OSError as exc:  # a directory on the way this user may not enter
            raise StoreError(f"{path} cannot be read: {exc.strerror or exc}") from None
        if not exists:
            if not create:
                raise StoreMissing(f"no store at {path}")
            _create_private_file(path)
        _check_existing_file(path)
    try:
        engine = create_engine(
            url,
            connect_args={"timeout": BUSY_TIMEOUT_MS / 1000} if path else {},
            # An error's message never carries the statement's values: they are write keys
            # and customer rows, and errors reach stderr, logs and History.
            hide_parameters=True,
        )
    except ImportError as exc:
        raise StoreError(
            f"{url.split('://', 1)[0]} needs a database driver that is not installed ({exc.name}); "
            "for PostgreSQL: pip install 'retention-console[postgres]'"
        ) from None
    except ArgumentError as exc:
        raise StoreError(f"not a database URL: {exc}") from None
    if engine.dialect.name == "sqlite":
        _install_sqlite_hooks(engine, cache_kib)
    store = Store(engine, path)
    try:
        _prepare_schema(store)
    except StoreError:
        engine.dispose()
        raise
    except OperationalError as exc:
        engine.dispose()
        if _is_store_failure(exc):  # read-only, disk full: the same line as in use
            raise _failure(store.label, exc) from None
        raise StoreError(f"{store.label} is not a usable store: {exc.orig}") from None
    except Exception as exc:  # a corrupt or foreign file: say so instead of a traceback
        engine.dispose()
        reason = getattr(exc, "orig", None) or exc  # the driver's words, without the SQL
        raise StoreError(f"{store.label} is not a usable store: {reason}") from exc
    return store


def _create_private_file(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return  # another process created it a moment ago; it is 0600 from its creator
    except OSError as exc:
        raise StoreError(f"cannot create the store {path}: {exc.strerror or exc}") from None
    os.close(fd)


def _check_existing_file(path: Path) -> None:
    """Refuse, without writing to it, a file that is not a store of ours or is too new.

    Read through a read-only SQLite connection: the engine's connect hook switches a file to
    WAL, which would change a foreign database the operator pointed us at by mistake.
    """
    try:
        if path.stat().st_size == 0:
            return  # new (ours, or being created by another process right now)
        with path.open("rb") as handle:
            header = handle.read(16)
    except OSError as exc:
        raise StoreError(f"{path} cannot be read: {exc.strerror or exc}") from None
    if header != b"SQLite format 3\x00":
        raise StoreError(f"{path} is not a Retention Console store (not an SQLite database)")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise StoreError(f"{path} cannot be opened: {exc}") from None
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            return  # an empty database: it becomes a store
        if "schema_info" not in tables:
            raise StoreError(f"{path} holds tables that are not a Retention Console store")
        row = conn.execute("SELECT version FROM schema_info WHERE id = 1").fetchone()
    except sqlite3.OperationalError as exc:  # read-only without its WAL index, say
        raise _failure(str(path), exc) from None
    except sqlite3.Error as exc:
        raise StoreError(f"{path} is not a usable store: {exc}") from None
    finally:
        conn.close()
    if row is None or not isinstance(row[0], int):
        raise StoreError(f"{path} is not a usable store: it records no schema version")
    _check_version(str(path), row[0])


def _check_version(label: str, version: int) -> None:
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{label} was written by a newer release (schema {version}, "
            f"this release knows {SCHEMA_VERSION}); upgrade retention-console"
        )


def _prepare_schema(store: Store) -> None:
    tables = set(inspect(store.engine).get_table_names())
    if "schema_info" not in tables:
        if tables:
            raise StoreError(f"{store.label} holds tables that are not a Retention Console store")
        with store.write() as conn:
            # Re-checked under the write lock: another process may have created it meanwhile.
            if "schema_info" not in inspect(conn).get_table_names():
                SQLModel.metadata.create_all(conn)
                conn.execute(table_of(SchemaInfo).insert().values(id=1, version=SCHEMA_VERSION))
    with store.read() as conn:
        version = conn.execute(select(col(SchemaInfo.version))).scalar_one()
    _check_version(store.label, version)
    if version < SCHEMA_VERSION:
        migrate(store, version)
    _ensure_tables(store)
    _ensure_indexes(store)


def _ensure_tables(store: Store) -> None:
    """Create tables a store lacks. A release may add a table without a schema version (it
    starts empty, and an older release never reads it); a changed column needs a migration."""
    present = set(inspect(store.engine).get_table_names())
    if all(table.name in present for table in SQLModel.metadata.sorted_tables):
        return
    with store.write() as conn:
        SQLModel.metadata.create_all(conn, checkfirst=True)


def _ensure_indexes(store: Store) -> None:
    """Create indexes a store lacks. Indexes are derived data, so a release may add one without
    a schema version; building it on a large store takes a few seconds, once."""
    inspector = inspect(store.engine)
    present = {
        table.name: {i["name"] for i in inspector.get_indexes(table.name)}
        for table in SQLModel.metadata.sorted_tables
    }
    missing = [
        index
        for table in SQLModel.metadata.sorted_tables
        for index in table.indexes
        if index.name not in present[table.name]
    ]
    # PostgreSQL's own, for workers sharing a destination: its expression is no SQLite's.
    slot_index = is_shared_store(store) and SLOT_INDEX_NAME not in present["outbox"]
    if missing or slot_index:
        with store.write() as conn:
            for index in missing:
                index.create(conn, checkfirst=True)
            if slot_index:
                conn.exec_driver_sql(SLOT_INDEX)


# Each entry upgrades a store from version N to N+1 inside the upgrade's write transaction
# (see state/migrations.py, which holds the steps).
MIGRATIONS: dict[int, Step] = STEPS


def migrate(store: Store, version: int) -> Path | None:
    """Upgrade in place from schema `version` to this release's, after copying the SQLite
    file to `<name>.v<version>.bak` (0600). Returns the backup's path, if one was made."""
    try:
        return upgrade(store.engine, store.path, SCHEMA_VERSION, MIGRATIONS)
    except MigrationError as exc:
        raise StoreError(f"{store.label}: {exc}") from exc


def conflict_insert(conn: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that takes ON CONFLICT clauses, in the dialect of this connection (SQLite, or
    PostgreSQL when the store is a database URL)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
