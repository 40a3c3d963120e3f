"""The suppression list as the Suppressions screen and `suppressions list|count` read it: one
page at a time in MD5 order (keyset), each row with its note (file or operator, and when)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, func, select

from state.models import Suppression, SuppressionNote, table_of

SUPPRESSIONS = table_of(Suppression)
NOTES = table_of(SuppressionNote)


@dataclass(frozen=True)
class SuppressionRow:
    email_md5: str
    source: str | None
    added_at: str | None

    def as_json(self) -> dict[str, object]:
        return {"email_md5": self.email_md5, "source": self.source, "added_at": self.added_at}


def _matching(prefix: str | None) -> list[ColumnElement[bool]]:
    """An MD5 or the start of one (lower-case hex, as stored); None matches every row."""
    if not prefix:
        return []
    return [SUPPRESSIONS.c.email_md5.like(prefix.replace("%", "").replace("_", "") + "%")]


def suppression_count(conn: Connection, prefix: str | None = None) -> int:
    stmt = select(func.count()).select_from(SUPPRESSIONS).where(*_matching(prefix))
    return int(conn.execute(stmt).scalar_one())


def suppressions_page(
    conn: Connection, prefix: str | None = None, *, after: str | None = None, limit: int = 100
) -> list[SuppressionRow]:
    """One page in MD5 order, read by keyset (`after`: the last MD5 of the previous page)."""
    conditions = _matching(prefix)
    if after is not None:
        conditions.append(SUPPRESSIONS.c.email_md5 > after)
    stmt = (
        select(SUPPRESSIONS.c.email_md5, NOTES.c.source, NOTES.c.added_at)
        .select_from(SUPPRESSIONS.outerjoin(NOTES, NOTES.c.email_md5 == SUPPRESSIONS.c.email_md5))
        .where(*conditions)
        .order_by(SUPPRESSIONS.c.email_md5)
        .limit(limit)
    )
    return [SuppressionRow(r.email_md5, r.source, r.added_at) for r in conn.execute(stmt)]
