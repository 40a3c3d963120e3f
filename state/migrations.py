"""Schema migrations: upgrade a store written by an earlier release in place, after a backup.

`STEPS[n]` upgrades a store from schema `n` to `n + 1`; it receives a connection inside the
upgrade's write transaction and may run DDL and data changes. A release that changes the schema
bumps `state.models.SCHEMA_VERSION` and registers the step here, for example::

    def _v1_to_v2(conn: Connection) -> None:
        conn.exec_driver_sql("ALTER TABLE destinations ADD COLUMN note TEXT")

    STEPS[1] = _v1_to_v2

What a caller may rely on:

* All steps run in ONE write transaction (SQLite `BEGIN IMMEDIATE`) that also re-reads the
  version, takes the backup and stamps the new version: a crash or a failing step leaves the
  store exactly as it was, and two processes opening an old store at once upgrade it once.
* Before anything changes, a SQLite store is copied with SQLite's online backup API to
  `<name>.v<old>.bak` beside it, created 0600 (the file holds the customer list), written under
  a temporary name and renamed, so a backup file is always a complete, readable old store.
* Tables new in the target schema are created after the steps (`create_all`), so a step only
  has to alter what already exists.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine, MetaData, case, select
from sqlmodel import SQLModel, col

from state.models import Destination, SchemaInfo, SyncRun, table_of

Step = Callable[[Connection], None]

# Schema n -> n + 1. Release 0.1 wrote schema 1; the steps are registered below.
STEPS: dict[int, Step] = {}


class MigrationError(Exception):
    """The store cannot be upgraded; the message says why and that it was left unchanged."""


def backup_path(path: Path, version: int) -> Path:
    """Where the copy of a store at schema `version` is kept: `<name>.v<version>.bak`."""
    return path.with_name(f"{path.name}.v{version}.bak")


def read_version(conn: Connection) -> int:
    return int(conn.execute(select(col(SchemaInfo.version))).scalar_one())


def upgrade(
    engine: Engine,
    path: Path | None,
    target: int,
    steps: dict[int, Step] | None = None,
) -> Path | None:
    """Upgrade the store behind `engine` to schema `target`; returns the backup's path (None
    when there is no file to copy, or when another process upgraded the store meanwhile).

    Raises MigrationError when a step is missing or fails; the store is then unchanged.
    """
    steps = STEPS if steps is None else steps
    with engine.connect() as base, _foreign_keys_off(base):
        conn = base.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            version = read_version(conn)
            if version >= target:
                return None  # someone else upgraded it while we waited for the write lock
            missing = [n for n in range(version, target) if n not in steps]
            if missing:
                raise MigrationError(
                    f"this release cannot upgrade a schema {missing[0]} store "
                    f"(no migration from schema {missing[0]}); the store was not changed"
                )
            backup = None
            if path is not None and engine.dialect.name == "sqlite":
                backup = _backup(path, version)
            for number in range(version, target):
                try:
                    steps[number](conn)
                except Exception as exc:
                    raise MigrationError(
                        f"upgrading from schema {number} to {number + 1} failed: {exc}; "
                        "the store was not changed"
                        + (f" (a copy is at {backup})" if backup else "")
                    ) from exc
            SQLModel.metadata.create_all(conn)
            _check_foreign_keys(conn, backup)
            conn.execute(table_of(SchemaInfo).update().values(version=target))
    return backup


@contextlib.contextmanager
def _foreign_keys_off(base: Connection) -> Iterator[None]:
    """SQLite's procedure for changing a table it cannot ALTER (build the new table, copy, drop
    the old one, rename) needs foreign keys off: dropping a parent table counts its children
    as violations even when the new table takes its place. The pragma is a no-op inside a
    transaction, so it is set on the driver connection before the upgrade begins, and set back
    before the connection returns to the pool; `_check_foreign_keys` stands in for it meanwhile.
    """
    if base.dialect.name != "sqlite":
        yield
        return
    driver = base.connection.dbapi_connection
    assert driver is not None
    driver.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        driver.execute("PRAGMA foreign_keys = ON")


def _check_foreign_keys(conn: Connection, backup: Path | None) -> None:
    """Refuse an upgrade that leaves a row pointing at nothing (SQLite, where the steps ran
    with foreign keys off)."""
    if conn.dialect.name != "sqlite":
        return
    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").first()
    if broken is not None:
        raise MigrationError(
            f"the upgrade left {broken[0]} rows pointing at missing {broken[2]} rows; "
            "the store was not changed" + (f" (a copy is at {backup})" if backup else "")
        )


def _v1_to_v2(conn: Connection) -> None:
    """Destination ids are never given again (SQLite `AUTOINCREMENT`), so a run that outlived
    its removed destination can never write into a new one that took its id.

    SQLite cannot add AUTOINCREMENT to a table: the table is rebuilt from the model under a
    new name, filled, and renamed over the old one. Other databases never reuse an identity
    value; there is nothing to change."""
    if conn.dialect.name != "sqlite":
        return
    table = table_of(Destination)
    rebuilt = table.to_metadata(MetaData(), name="destinations_v2")
    rebuilt.create(conn)
    columns = ", ".join(column.name for column in table.columns)
    conn.exec_driver_sql(
        f"INSERT INTO destinations_v2 ({columns}) SELECT {columns} FROM destinations"
    )
    conn.exec_driver_sql("DROP TABLE destinations")
    conn.exec_driver_sql("ALTER TABLE destinations_v2 RENAME TO destinations")


STEPS[1] = _v1_to_v2


def _v2_to_v3(conn: Connection) -> None:
    """Run outcomes get their words: a run that worked with rows refused or left queued was
    stored `failed` and is `partial`; one that could not work was `error` and is `failed`.
    One statement, so no run is renamed twice."""
    runs = table_of(SyncRun)
    conn.execute(
        runs.update()
        .where(runs.c.status.in_(("failed", "error")))
        .values(status=case((runs.c.status == "failed", "partial"), else_="failed"))
    )


STEPS[2] = _v2_to_v3


def _backup(path: Path, version: int) -> Path:
    """Copy the store, as committed, to `<name>.v<version>.bak` (0600).

    Called while the upgrading connection holds the write lock and has written nothing: a
    second connection reads the committed state (WAL readers are not blocked by a writer),
    and no other writer can commit until the upgrade does.
    """
    target = backup_path(path, version)
    partial = target.with_name(target.name + ".partial")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    os.close(os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    try:
        source = sqlite3.connect(path, timeout=30)
        try:
            copy = sqlite3.connect(partial)
            try:
                source.backup(copy)
            finally:
                copy.close()
        finally:
            source.close()
        os.chmod(partial, 0o600)
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise
    return target
