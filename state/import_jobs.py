"""Import jobs as stored (`import_jobs`): a destination's long-running uploads (a ReSci audience
backfill), created before the upload, updated as the destination reports on them, listed for
`resci jobs`.

Statuses are `ImportJobStatus` values; which moves between them are legal is the kind's state
machine's business, not the store's: this module writes what it is given.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, select, update

from console.core import clock
from console.core.vocab import ImportJobStatus
from state.models import ImportJob, ImportJobFile, inserted_id, table_of

JOBS = table_of(ImportJob)
FILES = table_of(ImportJobFile)

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


# --- a job's files, kept in the store (workers on PostgreSQL) ------------------------------------


def keep_job_file(
    conn: Connection, destination_id: int, job_id: int, name: str, parts: Iterable[bytes]
) -> int:
    """Store a job's file as the given parts, in order, replacing what was kept under that
    name; returns its size in bytes."""
    where = (FILES.c.job_id == job_id, FILES.c.name == name)
    conn.execute(delete(FILES).where(*where))
    size = 0
    for number, data in enumerate(parts):
        conn.execute(
            FILES.insert().values(
                job_id=job_id, name=name, part=number, destination_id=destination_id, data=data
            )
        )
        size += len(data)
    return size


def job_file_parts(conn: Connection, job_id: int, name: str) -> Iterator[bytes] | None:
    """A kept file's parts in order, read one at a time (None: nothing kept under `name`)."""
    where = (FILES.c.job_id == job_id, FILES.c.name == name)
    count = conn.execute(select(func.count()).where(*where)).scalar_one()
    if not count:
        return None

    def parts() -> Iterator[bytes]:
        for number in range(count):
            yield conn.execute(
                select(FILES.c.data).where(*where, FILES.c.part == number)
            ).scalar_one()

    return parts()


def drop_job_files(conn: Connection, job_id: int) -> None:
    """Forget what is kept of a job's files (it ended, or they must be built again)."""
    conn.execute(delete(FILES).where(FILES.c.job_id == job_id))


def jobs_with_kept_files(conn: Connection) -> list[tuple[int, int, bool]]:
    """(job id, destination id, uploaded) of every job with files kept in the store."""
    found = conn.execute(
        select(JOBS.c.id, JOBS.c.destination_id, JOBS.c.remote_id).where(
            JOBS.c.id.in_(select(FILES.c.job_id).distinct())
        )
    )
    return [(row.id, row.destination_id, row.remote_id is not None) for row in found]
