"""The backfill import job as an explicit state machine, and the typed notes that say what a
backfill and the membership rows hold.

A job is recorded `uploading` before its file is uploaded; ReSci's reply makes it `queued`;
polls move it to `processing`, `completed` or `failed`. Every legal move is in `TRANSITIONS`
and `transition` refuses the others, so no code path can, say, revive a failed job or complete
one twice. A job whose remote status is asked again and comes back unchanged stays where it is
(`queued -> queued` is legal: the poll still records ReSci's row count).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from console.core.vocab import ImportJobStatus

UPLOADING = ImportJobStatus.UPLOADING
QUEUED = ImportJobStatus.QUEUED
PROCESSING = ImportJobStatus.PROCESSING
COMPLETED = ImportJobStatus.COMPLETED
FAILED = ImportJobStatus.FAILED

TRANSITIONS: dict[ImportJobStatus, frozenset[ImportJobStatus]] = {
    # ReSci took the file (queued); an empty audience completes without an upload; a file
    # ReSci refuses (4xx) fails.
    UPLOADING: frozenset({QUEUED, COMPLETED, FAILED}),
    QUEUED: frozenset({QUEUED, PROCESSING, COMPLETED, FAILED}),
    PROCESSING: frozenset({PROCESSING, COMPLETED, FAILED}),
    # Final: the next backfill is a new job.
    COMPLETED: frozenset(),
    FAILED: frozenset(),
}


class IllegalTransition(ValueError):
    """A move the state machine does not allow."""


class ImportJob(BaseModel):
    """One backfill import job, as the console tracks it."""

    model_config = ConfigDict(frozen=True)
    id: int
    audience: str
    status: ImportJobStatus
    remote_id: str | None = None
    """ReSci's job id; None until ReSci acknowledged the upload."""
    rows: int = 0
    file_path: str | None = None
    """The users CSV while it exists (removed once the job is final)."""
    created_at: str | None = None
    """When the job was recorded (before its upload): how old a pending job is."""

    @property
    def pending(self) -> bool:
        return self.status.pending

    def with_file(self, rows: int, file_path: str, audience: str) -> ImportJob:
        """The job once its file is built (still `uploading`: not a move of the machine)."""
        if self.status is not UPLOADING:
            raise IllegalTransition(f"a {self.status} job's file cannot be rebuilt")
        return self.model_copy(update={"rows": rows, "file_path": file_path, "audience": audience})


def can_move(source: ImportJobStatus, target: ImportJobStatus) -> bool:
    return target in TRANSITIONS[source]


def transition(job: ImportJob, to: ImportJobStatus, **changes: object) -> ImportJob:
    """The job in state `to` (with `changes`: remote_id, rows, file_path); raises
    IllegalTransition for a move `TRANSITIONS` does not list."""
    if not can_move(job.status, to):
        raise IllegalTransition(f"import job {job.id}: {job.status} -> {to} is not a legal move")
    return job.model_copy(update={**changes, "status": to})


class BackfillNote(BaseModel):
    """The note of the `resci-backfill` cursor (position: the id of the current backfill's
    job): what that job's file holds and how far it got. Keys this release does not declare
    are kept (a newer release's note survives being read and written back)."""

    model_config = ConfigDict(extra="allow")
    job: int
    audience: str
    fields: list[tuple[str, str]] = []
    """(contact field, ReSci field) pairs, in mapping order."""
    fingerprint: str
    rule: str
    built: bool = False
    snapshot_seq: int | None = None
    """The contact `seq` the file was built up to."""
    rows: int | None = None
    completed: bool | None = None


class MembersNote(BaseModel):
    """The note of the `resci-members` cursor (position: the contact `seq` the delta has read
    to): which audience, rule and mapping the destination's membership rows reflect."""

    model_config = ConfigDict(extra="allow")
    audience: str
    rule: str | None = None
    fingerprint: str | None = None
