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
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Connection, Engine, select
from sqlmodel import SQLModel

from state.models import SchemaInfo

Step = Callable[[Connection], None]

# Schema n -> n + 1. Release 0.1 wrote schema 1; there is no older store to upgrade yet.
STEPS: dict[int, Step] = {}


class MigrationError(Exception):
    """The store cannot be upgraded; the message says why and that it was left unchanged."""


def backup_path(path: Path, version: int) -> Path:
    """Where the copy of a store at schema `version` is kept: `<name>.v<version>.bak`."""
    return path.with_name(f"{path.name}.v{version}.bak")


def read_version(conn: Connection) -> int:
    return int(conn.execute(select(SchemaInfo.version)).scalar_one())


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
    with engine.connect() as base:
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
            conn.execute(SchemaInfo.__table__.update().values(version=target))
    return backup


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
