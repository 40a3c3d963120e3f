"""Audiences as stored: list, get and save audiences (import jobs are `state.import_jobs`).

Rule syntax is the console's business (`console.audiences.rules`): callers validate a rule
before saving it, and this module stores the text.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from console.core import clock
from state.models import Audience, inserted_id, table_of

AUDIENCES = table_of(Audience)


@dataclass(frozen=True)
class AudienceRecord:
    id: int
    name: str
    rule: str
    updated_at: str


def list_audiences(conn: Connection) -> list[AudienceRecord]:
    """Every audience, by name (the one listing: the store holds a handful)."""
    return [
        AudienceRecord(r.id, r.name, r.rule, r.updated_at)
        for r in conn.execute(select(AUDIENCES).order_by(AUDIENCES.c.name))
    ]


def get_audience(conn: Connection, name: str) -> AudienceRecord | None:
    row = conn.execute(select(AUDIENCES).where(AUDIENCES.c.name == name)).first()
    return AudienceRecord(row.id, row.name, row.rule, row.updated_at) if row else None


def save_audience(
    conn: Connection, name: str, rule: str, *, updated_at: str | None = None
) -> tuple[int, bool]:
    """Create or update an audience by name (its rule already validated); returns (id,
    created). An unchanged rule keeps its `updated_at`; a new or changed one is stamped with
    `updated_at`, by default now. Raises ValueError for an empty name or rule."""
    name, rule = name.strip(), rule.strip()
    if not name:
        raise ValueError("an audience needs a name")
    if not rule:
        raise ValueError(f"audience {name!r} needs a rule")
    existing = get_audience(conn, name)
    now = updated_at or clock.now_iso()
    if existing is None:
        result = conn.execute(AUDIENCES.insert().values(name=name, rule=rule, updated_at=now))
        return inserted_id(result), True
    if existing.rule != rule:
        conn.execute(
            AUDIENCES.update()
            .where(AUDIENCES.c.id == existing.id)
            .values(rule=rule, updated_at=now)
        )
    return existing.id, False


def delete_audience(conn: Connection, name: str) -> bool:
    """Delete an audience by name; False when there was none. Whether an export still uses
    it is the caller's check (exports name audiences inside their settings)."""
    result = conn.execute(AUDIENCES.delete().where(AUDIENCES.c.name == name))
    return bool(result.rowcount)
