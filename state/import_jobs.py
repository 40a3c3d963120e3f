"""Import jobs as stored (`import_jobs`): a destination's long-running uploads (a ReSci audience
backfill), created before the upload, updated as the destination reports on them, listed for
`resci jobs`.

Statuses are `ImportJobStatus` values; which moves between them are legal is the kind's state
machine's business, not the store's: this module writes what it is given.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select, update

from console.core import clock
from console.core.vocab import ImportJobStatus
from state.models import ImportJob, inserted_id, table_of

JOBS = table_of(ImportJob)

_COLUMNS = (
    JOBS.c.id,
    JOBS.c.destination_id,
    JOBS.c.audience,
    JOBS.c.remote_id,
    JOBS.c.status,
    JOBS.c.rows,
    JOBS.c.imported,
    JOBS.c.rejected,
    JOBS.c.message,
    JOBS.c.file_path,
    JOBS.c.created_at,
    JOBS.c.updated_at,
)


@dataclass(frozen=True)
class ImportJobRow:
    """One import job as stored."""

    id: int
    destination_id: int
    audience: str
    remote_id: str | None
    status: str
    rows: int
    imported: int
    rejected: int
    message: str | None
    file_path: str | None
    created_at: str
    updated_at: str

    def as_json(self) -> dict[str, object]:
        # The file path is the engine's business (a private folder), not the report's.
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


def create_job(
    conn: Connection,
    destination_id: int,
    audience: str,
    status: ImportJobStatus = ImportJobStatus.UPLOADING,
) -> int:
    """A new job row (recorded before anything is uploaded, so a crash leaves a trace);
    returns its id."""
    now = clock.now_iso()
    result = conn.execute(
        JOBS.insert().values(
            destination_id=destination_id,
            audience=audience,
            status=status,
            created_at=now,
            updated_at=now,
        )
    )
    return inserted_id(result)


def update_job(
    conn: Connection,
    job_id: int,
    *,
    status: str | None = None,
    remote_id: str | None = None,
    audience: str | None = None,
    rows: int | None = None,
    imported: int | None = None,
    rejected: int | None = None,
    file_path: str | None = None,
    message: str | None = None,
    clear_message: bool = False,
) -> None:
    """Set the given columns (None leaves a column as it is; `clear_message` empties the
    message) and stamp `updated_at`."""
    values: dict[str, object] = {
        name: value
        for name, value in (
            ("status", status),
            ("remote_id", remote_id),
            ("audience", audience),
            ("rows", rows),
            ("imported", imported),
            ("rejected", rejected),
            ("file_path", file_path),
            ("message", message),
        )
        if value is not None
    }
    if clear_message:
        values["message"] = None
    values["updated_at"] = clock.now_iso()
    conn.execute(update(JOBS).where(JOBS.c.id == job_id).values(**values))


def latest_job(conn: Connection, destination_id: int) -> ImportJobRow | None:
    """The destination's newest job (the one a run resumes, polls or replaces)."""
    row = conn.execute(
        select(*_COLUMNS)
        .where(JOBS.c.destination_id == destination_id)
        .order_by(JOBS.c.id.desc())
        .limit(1)
    ).first()
    return ImportJobRow(**row._mapping) if row else None


def import_jobs_for(conn: Connection, destination_id: int, limit: int = 50) -> list[ImportJobRow]:
    """A destination's import jobs, newest first (the pending one, if any, comes first)."""
    stmt = (
        select(*_COLUMNS)
        .where(JOBS.c.destination_id == destination_id)
        .order_by(JOBS.c.id.desc())
        .limit(limit)
    )
    return [ImportJobRow(**row._mapping) for row in conn.execute(stmt)]
