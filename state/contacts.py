"""Contacts as stored: the look-ups and bulk writes of an import, and plain inserts.

A contact is keyed by its normalised email; `seq` is bumped whenever one is created or changes,
and destinations keep their cursor on it. Which rows to insert or update, and with which `seq`,
is the importer's business (console/ingest); this module runs the statements.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select

from console.core.fields import CONTACT_FIELDS
from state.bulk import BulkStatement, bulk_insert
from state.models import Contact, table_of

CONTACTS = table_of(Contact)
STORED_FIELDS: tuple[str, ...] = (*CONTACT_FIELDS, "content_hash", "seq")
"""The columns an import writes, in the order of its value tuples."""

# An expanding IN, so the statement is compiled once and cached rather than once per chunk.
_KNOWN = select(
    CONTACTS.c.id, CONTACTS.c.email, CONTACTS.c.content_hash, CONTACTS.c.created_at
).where(CONTACTS.c.email.in_(bindparam("emails", expanding=True)))
_UPDATE = (
    CONTACTS.update()
    .where(CONTACTS.c.id == bindparam("row_id"))
    .values({name: bindparam(f"new_{name}") for name in STORED_FIELDS})
)
_UPDATE_KEYS = (*(f"new_{name}" for name in STORED_FIELDS), "row_id")


def max_seq(conn: Connection) -> int:
    """The highest `seq` stored (0 for none)."""
    return int(conn.execute(select(func.max(CONTACTS.c.seq))).scalar() or 0)


def known_contacts(
    conn: Connection, emails: Sequence[str]
) -> Iterable[tuple[int, str, str, str | None]]:
    """(id, email, content_hash, created_at) of the stored contacts among `emails` (at most
    a chunk of an import: one statement)."""
    return conn.execute(_KNOWN, {"emails": list(emails)})


class ContactWrites:
    """The bulk statements of one import, compiled once for its connection's dialect."""

    def __init__(self, conn: Connection) -> None:
        self._insert = bulk_insert(conn, CONTACTS, STORED_FIELDS)
        self._update = BulkStatement(conn.dialect, _UPDATE, _UPDATE_KEYS)

    def insert(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        """New contacts, as tuples in STORED_FIELDS order."""
        self._insert.run(conn, rows)

    def update(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        """Changed contacts, as tuples in STORED_FIELDS order followed by the row's id."""
        self._update.run(conn, rows)


def insert_contacts(conn: Connection, contacts: Sequence[Mapping[str, Any]]) -> None:
    """Insert whole contact rows (generated ones: the demo); nothing for none."""
    if contacts:
        conn.execute(insert(CONTACTS), list(contacts))
