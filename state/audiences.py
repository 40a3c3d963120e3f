"""Audiences and ReSci import jobs as stored: list, get and save audiences; read the import
jobs of a destination.

Rule syntax is the console's business (`console.audiences.rules`): callers validate a rule
before saving it, and this module stores the text.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from console.core import clock
from state.models import Audience, ImportJob

AUDIENCES = Audience.__table__
JOBS = ImportJob.__table__


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
        return int(result.inserted_primary_key[0]), True
    if existing.rule != rule:
        conn.execute(
            AUDIENCES.update()
            .where(AUDIENCES.c.id == existing.id)
            .values(rule=rule, updated_at=now)
        )
    return existing.id, False


@dataclass(frozen=True)
class ImportJobRow:
    """One ReSci import job as the screens show it."""

    id: int
    destination_id: int
    audience: str
    remote_id: str | None
    status: str
    rows: int
    imported: int
    rejected: int
    message: str | None
    created_at: str
    updated_at: str

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "audience": self.audience,
            "remote_id": self.remote_id,
            "status": self.status,
            "rows": self.rows,
            "imported": self.imported,
            "rejected": self.rejected,
            "message": self.message,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def import_jobs_for(conn: Connection, destination_id: int, limit: int = 50) -> list[ImportJobRow]:
    """A destination's import jobs, newest first (the pending one, if any, comes first)."""
    stmt = (
        select(
            JOBS.c.id,
            JOBS.c.destination_id,
            JOBS.c.audience,
            JOBS.c.remote_id,
            JOBS.c.status,
            JOBS.c.rows,
            JOBS.c.imported,
            JOBS.c.rejected,
            JOBS.c.message,
            JOBS.c.created_at,
            JOBS.c.updated_at,
        )
        .where(JOBS.c.destination_id == destination_id)
        .order_by(JOBS.c.id.desc())
        .limit(limit)
    )
    return [ImportJobRow(*row) for row in conn.execute(stmt)]
