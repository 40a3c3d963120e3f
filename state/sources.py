"""Source rows as planners read them: chunked scans of contacts and events past a cursor, and the
suppression lookup for a chunk's contacts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Select, select

from state.models import Contact, Event, Suppression

CONTACTS = Contact.__table__
EVENTS = Event.__table__
SUPPRESSIONS = Suppression.__table__
SOURCES = {"contacts": CONTACTS, "events": EVENTS}
_IN_CHUNK = 900  # under SQLite's bound-parameter limit of old builds


def _fetch_dicts(conn: Connection, stmt: Select[Any]) -> list[dict[str, Any]]:
    """The rows of `stmt` as plain dicts (cheaper than `dict(row._mapping)` per row)."""
    result = conn.execute(stmt)
    keys = tuple(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result.fetchall()]


def read_chunk(conn: Connection, stream: str, after_seq: int, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` rows of `contacts` or `events` with `seq` past `after_seq`, in `seq` order,
    as dicts of every column."""
    table = SOURCES[stream]
    return _fetch_dicts(
        conn, select(table).where(table.c.seq > after_seq).order_by(table.c.seq).limit(limit)
    )


def suppressed_hashes(conn: Connection, hashes: Iterable[str]) -> set[str]:
    """Those of the email MD5s given that are on the suppression list."""
    wanted = list(dict.fromkeys(hashes))
    found: set[str] = set()
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        found.update(
            conn.execute(
                select(SUPPRESSIONS.c.email_md5).where(SUPPRESSIONS.c.email_md5.in_(chunk))
            ).scalars()
        )
    return found
