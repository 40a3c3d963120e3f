"""SQLModel tables of the console's store.

Timestamps are stored as ISO-8601 strings in UTC (`...Z`) so that SQLite sorts and indexes them
as text and a `day` column (YYYY-MM-DD) can group the summary without date functions.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import CursorResult, Index, Table, UniqueConstraint, inspect, text
from sqlmodel import Field, SQLModel

# The contact vocabulary lives in the neutral core (the kinds validate settings against it);
# re-exported here beside the `contacts` table it names.
from console.core.fields import CONTACT_FIELDS  # noqa: F401
from console.core.vocab import STATE_KINDS, ImportJobStatus, OutboxStatus, RunStatus

SCHEMA_VERSION = 3
# 1: release 0.1. 2: destination ids are never reused (SQLite AUTOINCREMENT). 3: a run that
# worked with rows refused is `partial` (was `failed`), one that could not work `failed` (was
# `error`).

RETRYING_ROWS = "status = 'queued' AND attempts > 0"
"""The condition of the partial index over rows waiting for a retry (a literal: SQLite uses a
partial index only when the query repeats its terms). Rows enter it only when a send fails, so
a backfill of a million fresh contacts never writes to it. (With `kind IN (...)` in it too,
SQLite's peak memory on such a backfill grew by about 60 MB.)"""
RETRYING_STATE_ROWS = "{} AND kind IN ({})".format(
    RETRYING_ROWS, ", ".join(f"'{kind}'" for kind in sorted(STATE_KINDS))
)
"""State rows waiting for a retry, as the engine asks for them (through that index)."""


class SchemaInfo(SQLModel, table=True):
    """One row: the schema version this store was written with."""

    __tablename__ = "schema_info"
    id: int = Field(default=1, primary_key=True)
    version: int


class Contact(SQLModel, table=True):
    """A contact, keyed by its normalised (lower-cased) email.

    `seq` is a store-wide sequence number bumped whenever the contact is created or its content
    changes; destinations keep a cursor on it. `content_hash` identifies the contact's version.
    """

    __tablename__ = "contacts"
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True)
    email_domain: str = Field(index=True)
    first_name: str | None = None
    last_name: str | None = None
    address_city: str | None = None
    address_line_1: str | None = None
    address_postal: str | None = None
    address_state: str | None = None
    landing_page_url: str | None = None
    landing_page_domain: str | None = None
    referrer: str | None = None
    page_title: str | None = None
    clicked_at: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    extra_data: str | None = None  # JSON text, passed through as the seed's `extra_data`
    anonymous_id: str | None = None
    content_hash: str
    seq: int = Field(index=True)


class Event(SQLModel, table=True):
    """A shopping event in the Segment `track` shape; `seq` is its insertion order."""

    __tablename__ = "events"
    seq: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(unique=True)
    event: str = Field(index=True)
    email: str | None = Field(default=None, index=True)
    anonymous_id: str | None = None
    user_id: str | None = None
    properties: str  # JSON text
    timestamp: str
    original_timestamp: str | None = None


class Suppression(SQLModel, table=True):
    """A known contact that must not be sent to Segment as a Grow contact.

    Stored as the MD5 hex of the trimmed, lower-cased email, so lists given either way match.
    """

    __tablename__ = "suppressions"
    email_md5: str = Field(primary_key=True)


class Audience(SQLModel, table=True):
    """A named rule over contact fields (see console/audiences)."""

    __tablename__ = "audiences"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    rule: str
    updated_at: str


class Destination(SQLModel, table=True):
    """A configured destination. `settings` is JSON validated by the kind's pydantic model.

    The lease columns let exactly one engine (console or `--run-once`) work a destination at a
    time; a lease whose owner process is gone may be taken over.
    """

    __tablename__ = "destinations"
    # Ids are never given again (SQLite would reuse the highest after a removal): a run that
    # outlives its removed destination must not write into a new one.
    __table_args__ = {"sqlite_autoincrement": True}
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    kind: str
    enabled: bool = True
    paused: bool = False
    settings: str  # JSON text
    created_at: str
    updated_at: str
    healthy: bool = True
    health_note: str | None = None
    consecutive_failures: int = 0
    last_run_at: str | None = None
    last_result: str | None = None
    lease_owner: str | None = None
    lease_until: str | None = None


class Cursor(SQLModel, table=True):
    """How far a destination's plan step has read a stream (`contacts`, `events`, ...)."""

    __tablename__ = "cursors"
    destination_id: int = Field(primary_key=True, foreign_key="destinations.id")
    stream: str = Field(primary_key=True)
    position: int = 0
    note: str | None = None  # JSON text for streams that need more than a number


class OutboxRow(SQLModel, table=True):
    """One message to one destination, written before anything is sent.

    `message_id` is stable for the same contact version or event, so a re-plan never queues a
    second copy and a re-send after a crash carries an id the receiver can de-duplicate.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("destination_id", "message_id", name="uq_outbox_destination_message"),
        Index("ix_outbox_claim", "destination_id", "status", "next_attempt_at"),
        Index("ix_outbox_status_day", "status", "day", "destination_id"),
        # Failures pages read only failed rows, newest first or by email: partial indexes keep
        # them instant on millions of rows without costing every queued row an index entry.
        Index(
            "ix_outbox_failed_recent",
            "updated_at",
            "id",
            sqlite_where=text("status = 'failed'"),
            postgresql_where=text("status = 'failed'"),
        ),
        Index(
            "ix_outbox_failed_email",
            "email",
            "id",
            sqlite_where=text("status = 'failed'"),
            postgresql_where=text("status = 'failed'"),
        ),
        Index("ix_outbox_run", "run_id"),
        # The engine asks, per batch, whether an older state row of the same contact is waiting
        # for a retry; only rows waiting for a retry are in it, so first sends never pay for it.
        Index(
            "ix_outbox_retrying",
            "destination_id",
            "email",
            sqlite_where=text(RETRYING_ROWS),
            postgresql_where=text(RETRYING_ROWS),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    destination_id: int = Field(foreign_key="destinations.id")
    kind: str
    message_id: str
    email: str | None = None
    payload: bytes
    status: str = OutboxStatus.QUEUED.value
    attempts: int = 0
    next_attempt_at: str
    http_status: int | None = None
    feedback: str | None = None
    created_at: str
    updated_at: str
    day: str  # YYYY-MM-DD of the last state change, for the daily summary and failures of a day
    run_id: int | None = None  # the run that last changed this row


class DailyStat(SQLModel, table=True):
    """Counters per destination and day, kept by the engine in the transaction that records
    outcomes, so the summary never scans the outbox."""

    __tablename__ = "daily_stats"
    destination_id: int = Field(primary_key=True, foreign_key="destinations.id")
    day: str = Field(primary_key=True)
    completions: int = 0
    failures: int = 0
    suppressed: int = 0
    skipped: int = 0


class SyncRun(SQLModel, table=True):
    """One plan+deliver pass over one destination."""

    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_runs_destination_started", "destination_id", "started_at"),)
    id: int | None = Field(default=None, primary_key=True)
    destination_id: int = Field(foreign_key="destinations.id")
    trigger: str
    status: str = RunStatus.RUNNING.value  # a RunStatus
    started_at: str
    finished_at: str | None = None
    added: int = 0
    changed: int = 0
    removed: int = 0
    delivered: int = 0
    rejected: int = 0
    suppressed: int = 0
    skipped: int = 0
    filtered: int = 0
    retrying: int = 0
    requests: int = 0
    message: str | None = None


class AudienceMember(SQLModel, table=True):
    """What a destination last sent for a contact of its exported audience."""

    __tablename__ = "audience_members"
    destination_id: int = Field(primary_key=True, foreign_key="destinations.id")
    contact_id: int = Field(primary_key=True)
    content_hash: str
    member: bool = True


class ImportJob(SQLModel, table=True):
    """A ReSci import job started by an audience backfill."""

    __tablename__ = "import_jobs"
    id: int | None = Field(default=None, primary_key=True)
    destination_id: int = Field(foreign_key="destinations.id", index=True)
    audience: str
    remote_id: str | None = None  # None while the upload has not been acknowledged
    status: str = ImportJobStatus.UPLOADING.value  # an ImportJobStatus
    rows: int = 0
    imported: int = 0
    rejected: int = 0
    message: str | None = None
    file_path: str | None = None
    created_at: str
    updated_at: str


class ImportJobFile(SQLModel, table=True):
    """One part of an import job's file, kept in the store where workers share it (PostgreSQL):
    the worker that uploads or completes a job may not be the one that built its file."""

    __tablename__ = "import_job_files"
    job_id: int = Field(foreign_key="import_jobs.id", primary_key=True)
    name: str = Field(primary_key=True)  # which of the job's files ("users", "members")
    part: int = Field(primary_key=True)
    destination_id: int = Field(foreign_key="destinations.id", index=True)
    data: bytes


class AlertConfig(SQLModel, table=True):
    """One row: the `[alerts]` section as applied (JSON; secrets as written, `env:NAME` or the
    value, like a destination's settings), read by every engine that may alert."""

    __tablename__ = "alert_config"
    id: int = Field(default=1, primary_key=True)
    settings: str  # JSON text
    updated_at: str


class AlertState(SQLModel, table=True):
    """Whether a destination was last alerted as failing; the console's engine and cron runs
    share it, so a change of state is alerted once, by whichever run saw it first."""

    __tablename__ = "alert_states"
    destination_id: int = Field(primary_key=True, foreign_key="destinations.id")
    failing: bool = False
    reason: str | None = None
    changed_at: str
    run_id: int | None = None  # the run whose end changed the state


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a table model: its `__table__`, which SQLModel sets at run time but does
    not declare, so a type checker would not know it."""
    table = inspect(model).local_table
    assert isinstance(table, Table), f"{model.__name__} is not a table model"
    return table


def inserted_id(result: CursorResult[Any]) -> int:
    """The integer primary key of the row a single-row INSERT (without RETURNING) just wrote."""
    key = result.inserted_primary_key
    assert key is not None, "not a single-row INSERT"
    return int(key[0])


class SuppressionNote(SQLModel, table=True):
    """Where a suppression came from and when: the imported file's name (or `added by
    user@host`). Beside `suppressions` rather than in it, so stores written before it keep
    their rows (shown as unknown) without a schema change; removed with its suppression."""

    __tablename__ = "suppression_notes"
    email_md5: str = Field(primary_key=True)
    source: str
    added_at: str = Field(index=True)


class DailyStreamStat(SQLModel, table=True):
    """A day's completions of one destination split by what was delivered: `contacts`
    (identify, user updates, imported users) or `events`. Beside `daily_stats` rather than in
    it, so older stores need no migration; days before it existed have no split."""

    __tablename__ = "daily_stream_stats"
    destination_id: int = Field(primary_key=True, foreign_key="destinations.id")
    day: str = Field(primary_key=True)
    stream: str = Field(primary_key=True)
    completions: int = 0


class DestinationStamp(SQLModel, table=True):
    """Who last changed a destination (`user@host`) and since when it is enabled (None while
    it is off). Beside `destinations` so older stores need no migration: a destination saved
    before it has no row, shown as unknown."""

    __tablename__ = "destination_stamps"
    destination_id: int = Field(primary_key=True, foreign_key="destinations.id")
    changed_by: str | None = None
    enabled_since: str | None = None


class Authorization(SQLModel, table=True):
    """A reusable API key authorization (seed 001): a label, an optional description and the
    key (the key itself or `env:NAME`), chosen by name by several destinations."""

    __tablename__ = "authorizations"
    id: int | None = Field(default=None, primary_key=True)
    label: str = Field(unique=True)
    description: str | None = None
    api_key: str
    created_at: str
    updated_at: str


class Erasure(SQLModel, table=True):
    """A `forget` done: when, by whom (`user@host`) and how many rows and files it removed.
    The emails are not kept (their MD5s are in the suppressions, so a re-import skips them)."""

    __tablename__ = "erasures"
    id: int | None = Field(default=None, primary_key=True)
    done_at: str
    done_by: str
    contacts: int = 0
    rows: int = 0
    files: int = 0


class ChangeRecord(SQLModel, table=True):
    """One operator change made through the commands: what (`subject`: destination, audience,
    authorization or suppressions; `name`), the action, a field-level diff as JSON with
    secrets masked, when and by whom (`user@host`)."""

    __tablename__ = "change_log"
    __table_args__ = (Index("ix_change_log_subject", "subject", "name", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    changed_at: str = Field(index=True)
    changed_by: str
    subject: str
    name: str
    action: str
    diff: str  # JSON: {field: [before, after]}
