"""Source rows as planners read them: chunked scans of contacts and events past a cursor (one
scan serves Segment's planner and the ReSci audience delta), the suppression lookup for a chunk's
contacts, and the streamed read of every contact an audience backfill file is built from."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Select, select

from state.db import IN_CHUNK
from state.models import Contact, Event, Suppression, table_of

CONTACTS = table_of(Contact)
EVENTS = table_of(Event)
SUPPRESSIONS = table_of(Suppression)
SOURCES = {"contacts": CONTACTS, "events": EVENTS}
STREAM_CHUNK = 5000


def _fetch_dicts(conn: Connection, stmt: Select[Any]) -> list[dict[str, Any]]:
    """The rows of `stmt` as plain dicts (cheaper than `dict(row._mapping)` per row)."""
    result = conn.execute(stmt)
    keys = tuple(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result.fetchall()]


def read_chunk(
    conn: Connection,
    stream: str,
    after_seq: int,
    limit: int,
    columns: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Up to `limit` rows of `contacts` or `events` with `seq` past `after_seq`, in `seq` order,
    as dicts of every column (or of `columns` only: a full audience delta reads a few of the
    contacts' columns, and building dicts of all of them made it half again as slow)."""
    table = SOURCES[stream]
    chosen = table.c if columns is None else [table.c[name] for name in columns]
    return _fetch_dicts(
        conn,
        select(*chosen).where(table.c.seq > after_seq).order_by(table.c.seq).limit(limit),
    )


def suppressed_hashes(conn: Connection, hashes: Iterable[str]) -> set[str]:
    """Those of the email MD5s given that are on the suppression list. An empty list (most
    stores, most of the time) is one read: `hashes` is not even consumed, so a generator of
    MD5s is never computed."""
    if conn.execute(select(SUPPRESSIONS.c.email_md5).limit(1)).first() is None:
        return set()
    wanted = list(dict.fromkeys(hashes))
    found: set[str] = set()
    for start in range(0, len(wanted), IN_CHUNK):
        chunk = wanted[start : start + IN_CHUNK]
        found.update(
            conn.execute(
                select(SUPPRESSIONS.c.email_md5).where(SUPPRESSIONS.c.email_md5.in_(chunk))
            ).scalars()
        )
    return found


def contacts_by_id(
    conn: Connection, ids: Sequence[int], columns: Sequence[str]
) -> dict[int, dict[str, Any]]:
    """id -> the contact's `columns` (plus `id`) as a dict, for those of `ids` that exist."""
    names = list(dict.fromkeys(["id", *columns]))
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(ids), IN_CHUNK):
        chunk = list(ids[start : start + IN_CHUNK])
        stmt = select(*(CONTACTS.c[n] for n in names)).where(CONTACTS.c.id.in_(chunk))
        for row in _fetch_dicts(conn, stmt):
            found[row["id"]] = row
    return found


def stream_rows(
    conn: Connection,
    stmt: Select[Any],
    *,
    driver_cursor: bool | None = None,
    chunk: int = STREAM_CHUNK,
) -> Iterator[Sequence[Sequence[Any]]]:
    """The statement's rows in lists of up to `chunk` tuples, never all at once. On SQLite
    (`driver_cursor` None) the driver cursor is read directly (one SELECT is one consistent
    snapshot); SQLAlchemy's row objects cost a second a million rows here. Elsewhere a
    server-side cursor (`yield_per`)."""
    if driver_cursor is None:
        driver_cursor = conn.dialect.name == "sqlite"
    if driver_cursor:
        sql = str(stmt.compile(dialect=conn.dialect))
        driver = conn.connection.driver_connection
        assert driver is not None, "a connection in use has its driver's connection"
        cursor = driver.cursor()
        try:
            cursor.execute(sql)
            while batch := cursor.fetchmany(chunk):
                yield batch
        finally:
            cursor.close()
        return
    yield from conn.execution_options(yield_per=chunk).execute(stmt).partitions()


def contact_partitions(
    conn: Connection, columns: Sequence[str], chunk: int = STREAM_CHUNK
) -> Iterator[Sequence[Sequence[Any]]]:
    """Every contact's `columns` as tuples, in `seq` order, `chunk` at a time (a backfill of
    millions never holds them all); read inside one transaction, so one snapshot."""
    stmt = select(*(CONTACTS.c[name] for name in columns)).order_by(CONTACTS.c.seq)
    return stream_rows(conn, stmt, chunk=chunk)
