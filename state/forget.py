"""Erasing a contact from the store (`retention-console forget`): every row that holds its
email or its data, deleted so that the bytes leave the store's files.

On SQLite the deletes run with `secure_delete` on (SQLite overwrites what it deletes with
zeros), then the WAL is checkpointed and truncated; cells left behind by earlier updates and
deletes (made without `secure_delete`) would still hold old copies, so the files are searched
for the emails afterwards and rebuilt with `VACUUM` when one is found. On PostgreSQL dead
tuples stay in the table files until the database is vacuumed (see README).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import (
    ColumnElement,
    Connection,
    LargeBinary,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import OperationalError

from console.core import clock
from state.db import IN_CHUNK, Store
from state.models import (
    AudienceMember,
    Contact,
    Destination,
    Erasure,
    Event,
    ImportJob,
    OutboxRow,
    SuppressionNote,
    SyncRun,
    table_of,
)
from state.retention import checkpoint, vacuum

CONTACTS = table_of(Contact)
EVENTS = table_of(Event)
MEMBERS = table_of(AudienceMember)
OUTBOX = table_of(OutboxRow)
JOBS = table_of(ImportJob)
ERASURES = table_of(Erasure)
RUNS = table_of(SyncRun)
DESTINATIONS = table_of(Destination)
FORGOTTEN_MARK = "[forgotten email]"
NOTES = table_of(SuppressionNote)

FORGOTTEN_SOURCE = "forgotten by "
"""How a forgotten email's suppression note starts (`forgotten by user@host`): imports skip
the emails so noted, until the suppression is lifted."""

_SCAN_CHUNK = 1 << 20


@dataclass(frozen=True)
class ForgottenRows:
    """Rows deleted for the emails, by table."""

    contacts: int = 0
    events: int = 0
    memberships: int = 0
    outbox: int = 0
    notes: int = 0
    """Run messages, job messages and destination notes the email was blanked out of."""

    @property
    def total(self) -> int:
        return self.contacts + self.events + self.memberships + self.outbox + self.notes


@contextmanager
def secure_deletes(conn: Connection) -> Iterator[None]:
    """SQLite overwrites deleted content with zeros while the block runs (on this
    connection only); other databases are left as they are."""
    if conn.dialect.name != "sqlite":
        yield
        return
    # Builds differ in their default (Debian's is on); the connection goes back to the pool
    # with the one it had.
    before = int(conn.exec_driver_sql("PRAGMA secure_delete").scalar_one())
    conn.exec_driver_sql("PRAGMA secure_delete = ON")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA secure_delete = {before}")


def _payload_holds(conn: Connection, needle: bytes) -> ColumnElement[bool]:
    """The row's payload (bytes) holds `needle`, without LIKE's wildcards (an email may hold
    `_` or `%`)."""
    if conn.dialect.name == "postgresql":
        # position(needle IN payload): PostgreSQL's search in bytea (no strpos for it).
        return func.position(literal(needle, LargeBinary).op("IN")(OUTBOX.c.payload)) > 0
    return func.instr(OUTBOX.c.payload, needle) > 0


def forget_rows(conn: Connection, emails: Sequence[str]) -> ForgottenRows:
    """Delete the contacts with these (normalised) emails, their memberships, their events (by
    email, user id or the contact's anonymous id) and every outbox row (queued, delivered or
    failed) whose email is one of them or whose payload or feedback holds one; blank the
    email out of the free-text notes that may quote it."""
    contacts = events = memberships = outbox = notes = 0
    for email in dict.fromkeys(emails):
        found = conn.execute(
            select(CONTACTS.c.id, CONTACTS.c.anonymous_id).where(CONTACTS.c.email == email)
        ).all()
        ids = [row.id for row in found]
        anonymous = [row.anonymous_id for row in found if row.anonymous_id]
        if ids:
            memberships += conn.execute(
                delete(MEMBERS).where(MEMBERS.c.contact_id.in_(ids))
            ).rowcount
            contacts += conn.execute(delete(CONTACTS).where(CONTACTS.c.id.in_(ids))).rowcount
        event_match = [EVENTS.c.email == email, EVENTS.c.user_id == email]
        if anonymous:
            event_match.append(EVENTS.c.anonymous_id.in_(anonymous))
        events += conn.execute(delete(EVENTS).where(or_(*event_match))).rowcount
        outbox += conn.execute(
            delete(OUTBOX).where(
                or_(
                    OUTBOX.c.email == email,
                    _payload_holds(conn, email.encode()),
                    _holds(conn, OUTBOX.c.feedback, email),
                )
            )
        ).rowcount
        notes += _scrub_notes(conn, email)
    return ForgottenRows(contacts, events, memberships, outbox, notes)


def _holds(conn: Connection, column: ColumnElement[str], needle: str) -> ColumnElement[bool]:
    if conn.dialect.name == "postgresql":
        return func.strpos(column, needle) > 0
    return func.instr(column, needle) > 0


def _scrub_notes(conn: Connection, email: str) -> int:
    """Replace the email in free-text notes that may quote it (a run's message, a job's, a
    destination's last result or health note) by `FORGOTTEN_MARK`; returns rows changed."""
    changed = 0
    for table, column in (
        (RUNS, RUNS.c.message),
        (JOBS, JOBS.c.message),
        (DESTINATIONS, DESTINATIONS.c.last_result),
        (DESTINATIONS, DESTINATIONS.c.health_note),
    ):
        changed += conn.execute(
            update(table)
            .where(_holds(conn, column, email))
            .values({column.name: func.replace(column, email, FORGOTTEN_MARK)})
        ).rowcount
    return changed


def any_forgotten(conn: Connection) -> bool:
    """Whether any email was forgotten (imports then check their chunks; most stores never).
    Asked of the small erasures table, not of the notes, which may hold millions."""
    return conn.execute(select(ERASURES.c.id).limit(1)).first() is not None


def forgotten_among(conn: Connection, md5s: Sequence[str]) -> set[str]:
    """The MD5s among `md5s` of emails forgotten (and still suppressed)."""
    found: set[str] = set()
    wanted = list(dict.fromkeys(md5s))
    for start in range(0, len(wanted), IN_CHUNK):
        found.update(
            conn.scalars(
                select(NOTES.c.email_md5).where(
                    NOTES.c.email_md5.in_(wanted[start : start + IN_CHUNK]),
                    NOTES.c.source.startswith(FORGOTTEN_SOURCE),
                )
            )
        )
    return found


def job_files(conn: Connection) -> list[tuple[int, str, bool]]:
    """(job id, users file, uploaded) of every import job that still has its files."""
    rows = conn.execute(
        select(JOBS.c.id, JOBS.c.file_path, JOBS.c.remote_id).where(JOBS.c.file_path.is_not(None))
    )
    return [(row.id, str(row.file_path), row.remote_id is not None) for row in rows]


def record_erasure(conn: Connection, by: str, contacts: int, rows: int, files: int) -> None:
    """Note that a forget was done, without the emails."""
    conn.execute(
        ERASURES.insert().values(
            done_at=clock.now_iso(), done_by=by, contacts=contacts, rows=rows, files=files
        )
    )


@dataclass(frozen=True)
class ErasureRow:
    done_at: str
    done_by: str
    contacts: int
    rows: int
    files: int


def erasures(conn: Connection, limit: int = 100) -> list[ErasureRow]:
    """The forgets done, newest first."""
    stmt = (
        select(
            ERASURES.c.done_at,
            ERASURES.c.done_by,
            ERASURES.c.contacts,
            ERASURES.c.rows,
            ERASURES.c.files,
        )
        .order_by(ERASURES.c.id.desc())
        .limit(limit)
    )
    return [ErasureRow(*row) for row in conn.execute(stmt)]


def store_files(store: Store) -> list[Path]:
    """The SQLite files that hold the store's bytes (none for a database URL)."""
    if store.path is None:
        return []
    base = store.path
    return [p for p in (base, base.with_name(base.name + "-wal")) if p.exists()]


def files_holding(store: Store, needles: Sequence[bytes]) -> list[Path]:
    """The store's files in which one of `needles` still occurs (read in chunks that overlap,
    so a needle across a chunk boundary is found)."""
    longest = max((len(n) for n in needles), default=0)
    holding = []
    for path in store_files(store):
        tail = b""
        with path.open("rb") as handle:
            while chunk := handle.read(_SCAN_CHUNK):
                window = tail + chunk
                if any(n in window for n in needles):
                    holding.append(path)
                    break
                tail = window[-longest:] if longest > 1 else b""
    return holding


def scrub_store_files(store: Store, needles: Sequence[bytes]) -> list[Path]:
    """After the deletes: checkpoint, look for the needles in the files, `VACUUM` when one is
    still there. Returns the files that hold one even so (none, unless another process keeps
    the WAL from being truncated)."""
    if store.engine.dialect.name != "sqlite":
        return []
    checkpoint(store)
    if not files_holding(store, needles):
        return []
    # Another process in a transaction keeps VACUUM out: the caller says what remains.
    with suppress(OperationalError, sqlite3.OperationalError):
        vacuum(store)
    return files_holding(store, needles)
