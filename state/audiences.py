"""Audiences and ReSci import jobs as stored: list, get, save, remove; read the jobs of a
destination.

Rule syntax is the console's business (`console.audiences.rules`); `state/` never imports
`console/`, so `save_audience` takes the validator as an argument and stores only what it
accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import orjson
from sqlalchemy import Connection, select

from console.core import clock
from state.models import Audience, Destination, ImportJob

AUDIENCES = Audience.__table__
JOBS = ImportJob.__table__
DESTINATIONS = Destination.__table__

PENDING_JOB_STATES = ("uploading", "queued", "processing")


@dataclass(frozen=True)
class AudienceRecord:
    id: int
    name: str
    rule: str
    updated_at: str


def list_audiences(conn: Connection) -> list[AudienceRecord]:
    """Every audience, by name."""
    return [
        AudienceRecord(r.id, r.name, r.rule, r.updated_at)
        for r in conn.execute(select(AUDIENCES).order_by(AUDIENCES.c.name))
    ]


def get_audience(conn: Connection, name: str) -> AudienceRecord | None:
    row = conn.execute(select(AUDIENCES).where(AUDIENCES.c.name == name)).first()
    return AudienceRecord(row.id, row.name, row.rule, row.updated_at) if row else None


def save_audience(
    conn: Connection, name: str, rule: str, validate: Callable[[str], object] | None = None
) -> tuple[int, bool]:
    """Create or update an audience by name; returns (id, created). `validate(rule)` is called
    first and may raise ValueError, which propagates with nothing written. An unchanged rule
    keeps its `updated_at`."""
    name, rule = name.strip(), rule.strip()
    if not name:
        raise ValueError("an audience needs a name")
    if not rule:
        raise ValueError(f"audience {name!r} needs a rule")
    if validate is not None:
        validate(rule)
    existing = get_audience(conn, name)
    now = clock.now_iso()
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


def exporting_destinations(conn: Connection, name: str) -> list[str]:
    """Names of the destinations whose audience export (`export.audience` in their settings,
    whatever their kind) uses the audience."""
    users: list[str] = []
    for dest_name, settings in conn.execute(select(DESTINATIONS.c.name, DESTINATIONS.c.settings)):
        export = orjson.loads(settings).get("export") or {}
        if export.get("audience") == name:
            users.append(dest_name)
    return sorted(users)


def remove_audience(conn: Connection, name: str) -> bool:
    """Remove an audience; False when there is none. Raises ValueError while a destination
    exports it (removing it would leave that export without a rule)."""
    users = exporting_destinations(conn, name)
    if users:
        raise ValueError(f"audience {name!r} is exported by {', '.join(users)}; change those first")
    result = conn.execute(AUDIENCES.delete().where(AUDIENCES.c.name == name))
    return bool(result.rowcount)


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

    @property
    def pending(self) -> bool:
        return self.status in PENDING_JOB_STATES

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


def pending_import_job(conn: Connection, destination_id: int) -> ImportJobRow | None:
    """The destination's import job still uploading, queued or processing, if any."""
    for job in import_jobs_for(conn, destination_id, limit=1):
        return job if job.pending else None
    return None
