"""Suppressions as stored: the MD5 hex of a trimmed, lower-cased email, one row each, with a
note of where each came from and when (`suppression_notes`; rows older than the notes have
none and show as unknown). The writers; the list as screens read it is `state.suppression_list`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, bindparam, delete, select

from console.core import clock
from state.bulk import BulkStatement, bulk_insert
from state.db import IN_CHUNK
from state.models import Suppression, SuppressionNote, table_of

SUPPRESSIONS = table_of(Suppression)
NOTES = table_of(SuppressionNote)

_KNOWN = select(SUPPRESSIONS.c.email_md5).where(
    SUPPRESSIONS.c.email_md5.in_(bindparam("md5s", expanding=True))
)


def known_md5s(conn: Connection, md5s: Sequence[str]) -> set[str]:
    """The MD5s among `md5s` already stored (a chunk of an import)."""
    return set(conn.scalars(_KNOWN, {"md5s": list(md5s)}))


def suppression_inserts(conn: Connection) -> BulkStatement:
    """The bulk insert of one import: rows as `(email_md5,)` tuples not stored yet."""
    return bulk_insert(conn, SUPPRESSIONS, ("email_md5",))


def note_inserts(conn: Connection) -> BulkStatement:
    """The notes of one import: rows as `(email_md5, source, added_at)` tuples."""
    return bulk_insert(
        conn, NOTES, ("email_md5", "source", "added_at"), ignore_conflicts_on=("email_md5",)
    )


def add_suppressions(conn: Connection, md5s: Iterable[str], source: str | None = None) -> int:
    """Insert MD5s, skipping those already stored; with `source`, note where the new ones came
    from. Returns how many were new."""
    wanted = list(dict.fromkeys(md5s))
    fresh: list[str] = []
    for start in range(0, len(wanted), IN_CHUNK):
        chunk = wanted[start : start + IN_CHUNK]
        known = known_md5s(conn, chunk)
        fresh.extend(md5 for md5 in chunk if md5 not in known)
    if fresh:
        suppression_inserts(conn).run(conn, [(md5,) for md5 in fresh])
        if source is not None:
            now = clock.now_iso()
            note_inserts(conn).run(conn, [(md5, source, now) for md5 in fresh])
    return len(fresh)


def remove_suppressions(conn: Connection, md5s: Iterable[str]) -> list[str]:
    """Delete MD5s and their notes; returns the ones that were stored."""
    wanted = list(dict.fromkeys(md5s))
    removed: list[str] = []
    for start in range(0, len(wanted), IN_CHUNK):
        chunk = wanted[start : start + IN_CHUNK]
        stored = known_md5s(conn, chunk)
        if stored:
            conn.execute(delete(SUPPRESSIONS).where(SUPPRESSIONS.c.email_md5.in_(stored)))
            conn.execute(delete(NOTES).where(NOTES.c.email_md5.in_(stored)))
        removed.extend(md5 for md5 in chunk if md5 in stored)
    return removed
