"""Events as stored: the look-ups and bulk inserts of an import, and plain inserts.

Events are immutable and keyed by messageId; `seq`, the table's integer primary key, is the
insertion order destinations keep their cursor on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select

from state.bulk import BulkStatement, bulk_insert
from state.models import Event, table_of

EVENTS = table_of(Event)
COLUMNS: tuple[str, ...] = (
    "message_id",
    "event",
    "email",
    "anonymous_id",
    "user_id",
    "properties",
    "timestamp",
    "original_timestamp",
)
"""The columns an import writes, in the order of its value tuples."""

_KNOWN = select(*(EVENTS.c[name] for name in COLUMNS)).where(
    EVENTS.c.message_id.in_(bindparam("ids", expanding=True))
)


def stored_events(conn: Connection, message_ids: Sequence[str]) -> dict[str, tuple[Any, ...]]:
    """The stored rows (COLUMNS order) of the messageIds among `message_ids` already in the
    store (a chunk of an import), so an import can tell a re-import from a conflicting reuse."""
    return {row[0]: tuple(row) for row in conn.execute(_KNOWN, {"ids": list(message_ids)})}


def event_inserts(conn: Connection) -> BulkStatement:
    """The bulk insert of one import: rows as tuples in COLUMNS order."""
    return bulk_insert(conn, EVENTS, COLUMNS)


def insert_events(conn: Connection, events: Sequence[Mapping[str, Any]]) -> None:
    """Insert whole event rows (generated ones: the demo); nothing for none."""
    if events:
        conn.execute(insert(EVENTS), list(events))
