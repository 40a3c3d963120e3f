"""The shared vocabulary: the values stored in status, kind and trigger columns.

They are `StrEnum`s so they compare equal to, and are stored as, their plain values; display
words belong to the UI, not here.
"""

from __future__ import annotations

from enum import StrEnum


class OutboxStatus(StrEnum):
    """Where one outbox row stands. `queued` rows are the engine's until delivered, failed or
    suppressed (the contact was put on the suppression list after the row was queued: never
    sent, counted in the day's `suppressed`, neither a failure to retry nor a delivery)."""

    QUEUED = "queued"
    DELIVERED = "delivered"
    FAILED = "failed"
    SUPPRESSED = "suppressed"


class RowKind(StrEnum):
    """What one outbox row carries, as Failures shows it."""

    IDENTIFY = "identify"
    TRACK = "track"
    IMPORT_ROW = "import row"
    USER_UPDATE = "user update"
    EVENT = "event"


STATE_KINDS: frozenset[RowKind] = frozenset(
    {RowKind.IDENTIFY, RowKind.USER_UPDATE, RowKind.IMPORT_ROW}
)
"""Kinds whose message carries a contact's whole state: of two for one contact, the one sent
last wins at the destination, so they must leave in the order they were queued."""


class RunStatus(StrEnum):
    """How one run of one destination ended (or that it is still going)."""

    RUNNING = "running"
    OK = "ok"
    PARTIAL = "partial"
    """The run worked, but some rows were refused or are still queued (or an import job is
    past its limit). Stored as `failed` before schema 3."""
    FAILED = "failed"
    """The run could not work at all (a refused key, no connection, a bad configuration).
    Stored as `error` before schema 3."""
    INTERRUPTED = "interrupted"
    """The process ended mid-run; the next run closes it."""
    BUSY = "busy"
    """Another engine holds the destination's lease (never stored)."""


class Trigger(StrEnum):
    """What started a run."""

    SCHEDULE = "schedule"
    MANUAL = "manual"
    RUN_ONCE = "run-once"


class ImportJobStatus(StrEnum):
    """A ReSci import job's state, as the console tracks it."""

    UPLOADING = "uploading"
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def pending(self) -> bool:
        return self in (
            ImportJobStatus.UPLOADING,
            ImportJobStatus.QUEUED,
            ImportJobStatus.PROCESSING,
        )
