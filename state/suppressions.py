"""Suppressions as stored: the MD5 hex of a trimmed, lower-cased email, one row each."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, bindparam, select

from state.bulk import BulkStatement, bulk_insert
from state.models import Suppression, table_of

SUPPRESSIONS = table_of(Suppression)

_KNOWN = select(SUPPRESSIONS.c.email_md5).where(
    SUPPRESSIONS.c.email_md5.in_(bindparam("md5s", expanding=True))
)


def known_md5s(conn: Connection, md5s: Sequence[str]) -> set[str]:
    """The MD5s among `md5s` already stored (a chunk of an import)."""
    return set(conn.scalars(_KNOWN, {"md5s": list(md5s)}))


def suppression_inserts(conn: Connection) -> BulkStatement:
    """The bulk insert of one import: rows as `(email_md5,)` tuples not stored yet."""
    return bulk_insert(conn, SUPPRESSIONS, ("email_md5",))


def add_suppressions(conn: Connection, md5s: Iterable[str]) -> None:
    """Insert MD5s, skipping those already stored."""
    rows = [(md5,) for md5 in md5s]
    if rows:
        bulk_insert(conn, SUPPRESSIONS, ("email_md5",), ignore_conflicts_on=("email_md5",)).run(
            conn, rows
        )
