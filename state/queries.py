"""Read queries for the screens and the CLI: daily summary, failures, run history.

Every query reads one page through an index; none loads a whole table, so the console stays
instant on millions of outbox rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    func,
    literal_column,
    or_,
    select,
    tuple_,
)

from console.core import clock
from console.core.vocab import ImportJobStatus, OutboxStatus, RunStatus
from state.audiences import list_audiences
from state.models import (
    Authorization,
    DailyStat,
    Destination,
    Event,
    ImportJob,
    OutboxRow,
    SyncRun,
    table_of,
)

OUTBOX = table_of(OutboxRow)
STATS = table_of(DailyStat)
RUNS = table_of(SyncRun)
DESTINATIONS = table_of(Destination)
EVENTS = table_of(Event)
JOBS = table_of(ImportJob)
AUTHORIZATIONS = table_of(Authorization)


@dataclass(frozen=True)
class SummaryRow:
    date: str
    destination: str
    completions: int
    failures: int
    suppressed: int
    queued: int
    contacts: int = 0
    """Of the completions, contacts (identify, user updates, imported users); `events` the
    rest. Days before the split was counted have neither."""
    events: int = 0
    destination_id: int = 0

    def as_json(self) -> dict[str, object]:
        return {
            "date": self.date,
            "destination": self.destination,
            "completions": self.completions,
            "contacts": self.contacts,
            "events": self.events,
            "failures": self.failures,
            "suppressed": self.suppressed,
            "queued": self.queued,
        }


def queued_by_destination(conn: Connection) -> dict[int, int]:
    return dict(
        conn.execute(
            select(OUTBOX.c.destination_id, func.count())
            .where(OUTBOX.c.status == OutboxStatus.QUEUED)
            .group_by(OUTBOX.c.destination_id)
        ).all()
    )


PENDING_JOBS = [status.value for status in ImportJobStatus if status.pending]


def waiting_by_destination(conn: Connection) -> dict[int, int]:
    """Rows queued now, plus the users of ReSci backfills still being imported."""
    waiting = dict(queued_by_destination(conn))
    pending = conn.execute(
        select(JOBS.c.destination_id, func.sum(JOBS.c.rows))
        .where(JOBS.c.status.in_(PENDING_JOBS))
        .group_by(JOBS.c.destination_id)
    )
    for destination_id, rows in pending:
        waiting[destination_id] = waiting.get(destination_id, 0) + int(rows or 0)
    return waiting


def daily_summary(
    conn: Connection, destination: str | None = None, days: int = 30
) -> list[SummaryRow]:
    """One row per destination and day, newest first, for the last `days` days with activity
    (the chart; `state.summary` pages the full history). `queued` is what waits now (queued rows
    and a pending backfill's users), shown on today's row (a queue has no history)."""
    names = _destination_names(conn)
    stmt = select(
        STATS.c.destination_id,
        STATS.c.day,
        STATS.c.completions,
        STATS.c.failures,
        STATS.c.suppressed,
    ).order_by(STATS.c.day.desc(), STATS.c.destination_id)
    if destination is not None:
        ids = [i for i, n in names.items() if n == destination]
        stmt = stmt.where(STATS.c.destination_id.in_(ids))
    today = clock.today()
    queued = waiting_by_destination(conn)
    rows: list[SummaryRow] = []
    seen_today: set[int] = set()
    cutoff_days: list[str] = []
    for dest_id, day, completions, failures, suppressed in conn.execute(stmt):
        if day not in cutoff_days:
            if len(cutoff_days) >= days:
                break
            cutoff_days.append(day)
        if day == today:
            seen_today.add(dest_id)
        rows.append(
            SummaryRow(
                day,
                names.get(dest_id, f"#{dest_id}"),
                completions,
                failures,
                suppressed,
                queued.get(dest_id, 0) if day == today else 0,
            )
        )
    # A destination with queued rows but no activity yet today still shows what waits.
    for dest_id, count in queued.items():
        if dest_id not in seen_today and (destination is None or names.get(dest_id) == destination):
            rows.insert(0, SummaryRow(today, names.get(dest_id, f"#{dest_id}"), 0, 0, 0, count))
    return rows


@dataclass(frozen=True)
class FailureRow:
    id: int
    email: str | None
    destination: str
    kind: str
    feedback: str | None
    http_status: int | None
    attempts: int
    at: str
    message_id: str
    day: str | None = None
    """The day the failure was counted on (the operator's day at the time, UTC by default)."""

    def as_json(self) -> dict[str, object]:
        return {
            "email": self.email,
            "destination": self.destination,
            "kind": self.kind,
            "feedback": self.feedback,
            "http_status": self.http_status,
            "attempts": self.attempts,
            "at": self.at,
        }


@dataclass(frozen=True)
class FailureFilter:
    destination: str | None = None
    day: str | None = None
    text: str | None = None
    """Matched against email, email domain and feedback."""


FAILURE_SORTS = {
    "newest": (OUTBOX.c.updated_at.desc(), OUTBOX.c.id.desc()),
    "oldest": (OUTBOX.c.updated_at.asc(), OUTBOX.c.id.asc()),
    "email": (OUTBOX.c.email.asc(), OUTBOX.c.id.asc()),
    "attempts": (OUTBOX.c.attempts.desc(), OUTBOX.c.id.desc()),
}


def _failure_conditions(conn: Connection, flt: FailureFilter) -> list[ColumnElement[bool]]:
    # A literal, not a bound parameter: SQLite uses a partial index (`WHERE status = 'failed'`)
    # only when it can see the query implies it.
    conditions: list[ColumnElement[bool]] = [
        OUTBOX.c.status == literal_column(f"'{OutboxStatus.FAILED}'")
    ]
    if flt.destination:
        conditions.append(
            OUTBOX.c.destination_id
            == select(DESTINATIONS.c.id)
            .where(DESTINATIONS.c.name == flt.destination)
            .scalar_subquery()
        )
    if flt.day:
        conditions.append(OUTBOX.c.day == flt.day)
    if flt.text:
        # `_` and `%` in an address are literal: `john_doe` must not match `johnxdoe`.
        needle = flt.text.strip().lower()
        conditions.append(
            or_(
                func.lower(OUTBOX.c.email).contains(needle, autoescape=True),
                func.lower(OUTBOX.c.feedback).contains(needle, autoescape=True),
            )
        )
    return conditions


_FAILURE_COLUMNS = (
    OUTBOX.c.id,
    OUTBOX.c.email,
    OUTBOX.c.destination_id,
    OUTBOX.c.kind,
    OUTBOX.c.feedback,
    OUTBOX.c.http_status,
    OUTBOX.c.attempts,
    OUTBOX.c.updated_at,
    OUTBOX.c.message_id,
    OUTBOX.c.day,
)


def _failures_select(conn: Connection, flt: FailureFilter, sort: str) -> Select[Any]:
    return (
        select(*_FAILURE_COLUMNS)
        .where(and_(*_failure_conditions(conn, flt)))
        .order_by(*FAILURE_SORTS[sort])
    )


def _destination_names(conn: Connection) -> dict[int, str]:
    return dict(conn.execute(select(DESTINATIONS.c.id, DESTINATIONS.c.name)).all())


def _failure_row(r: Any, names: dict[int, str], kind: str | None = None) -> FailureRow:
    return FailureRow(
        r.id,
        r.email,
        names.get(r.destination_id, "?"),
        kind or r.kind,
        r.feedback,
        r.http_status,
        r.attempts,
        r.updated_at,
        r.message_id,
        r.day,
    )


FailurePosition = tuple[object, int]
"""A keyset position in a failures listing: the sort column's value and the row id of the last
row shown; the next page starts just past it."""

_SORT_COLUMNS = {
    "newest": OUTBOX.c.updated_at,
    "oldest": OUTBOX.c.updated_at,
    "email": OUTBOX.c.email,
    "attempts": OUTBOX.c.attempts,
}


def failure_position(row: FailureRow, sort: str) -> FailurePosition:
    """Where `row` stands in `sort` order: what `failures_page(after=...)` takes to read the
    page that follows it."""
    value = {"newest": row.at, "oldest": row.at, "email": row.email, "attempts": row.attempts}
    return (value[sort], row.id)


def _failures_after(conn: Connection, sort: str, after: FailurePosition) -> ColumnElement[bool]:
    """Rows strictly past `after` in `sort` order: a keyset condition the sort's index can
    seek to, where OFFSET would count every row before the page on every page turn."""
    column, (value, row_id) = _SORT_COLUMNS[sort], after
    descending = sort in ("newest", "attempts")
    if column is not OUTBOX.c.email:
        if descending:
            return tuple_(column, OUTBOX.c.id) < tuple_(value, row_id)
        return tuple_(column, OUTBOX.c.id) > tuple_(value, row_id)
    # Emails may be NULL, and dialects disagree on where NULLs sort: SQLite puts them first
    # in ascending order, PostgreSQL last.
    nulls_last = conn.dialect.name == "postgresql"
    if value is None:
        same = and_(OUTBOX.c.email.is_(None), OUTBOX.c.id > row_id)
        return same if nulls_last else or_(same, OUTBOX.c.email.is_not(None))
    past = or_(OUTBOX.c.email > value, and_(OUTBOX.c.email == value, OUTBOX.c.id > row_id))
    return or_(past, OUTBOX.c.email.is_(None)) if nulls_last else past


def failures_page(
    conn: Connection,
    flt: FailureFilter = FailureFilter(),
    *,
    limit: int = 50,
    after: FailurePosition | None = None,
    sort: str = "newest",
) -> list[FailureRow]:
    """Up to `limit` failures in `sort` order, starting just past `after` (keyset paging:
    `failure_position` of the last row of the page before), or from the first."""
    names = _destination_names(conn)
    stmt = _failures_select(conn, flt, sort).limit(limit)
    if after is not None:
        stmt = stmt.where(_failures_after(conn, sort, after))
    return [_failure_row(r, names) for r in conn.execute(stmt)]


def failure_count(conn: Connection, flt: FailureFilter = FailureFilter()) -> int:
    return int(
        conn.execute(
            select(func.count()).select_from(OUTBOX).where(and_(*_failure_conditions(conn, flt)))
        ).scalar_one()
    )


def failure_ids(conn: Connection, flt: FailureFilter) -> list[int]:
    """Every failed row id matching a filter (for "retry all of a day")."""
    return list(
        conn.execute(select(OUTBOX.c.id).where(and_(*_failure_conditions(conn, flt)))).scalars()
    )


def outbox_payload(conn: Connection, row_id: int) -> bytes | None:
    """The body sent for one outbox row (it never holds credentials)."""
    return conn.execute(select(OUTBOX.c.payload).where(OUTBOX.c.id == row_id)).scalar()


@dataclass(frozen=True)
class RunRow:
    id: int
    destination: str
    trigger: str
    status: str
    started_at: str
    finished_at: str | None
    added: int
    changed: int
    removed: int
    delivered: int
    rejected: int
    suppressed: int
    skipped: int
    filtered: int
    requests: int
    message: str | None

    @property
    def duration_seconds(self) -> float | None:
        if not self.finished_at:
            return None
        return (
            clock.parse_iso(self.finished_at) - clock.parse_iso(self.started_at)
        ).total_seconds()


def runs_page(
    conn: Connection,
    destination: str | None = None,
    *,
    limit: int = 50,
    after: int | None = None,
    outcome: str | None = None,
    hide_empty: bool = False,
) -> list[RunRow]:
    """Runs newest first, starting just past run id `after` (keyset paging), or from the
    newest; `outcome` keeps the runs of that status (`RunStatus`), `hide_empty` leaves out the
    runs that found nothing to do: ended `ok` with no request sent, nothing delivered and
    nothing failed."""
    names = _destination_names(conn)
    stmt = select(RUNS).order_by(RUNS.c.id.desc()).limit(limit)
    if after is not None:
        stmt = stmt.where(RUNS.c.id < after)
    if outcome:
        stmt = stmt.where(RUNS.c.status == outcome)
    if hide_empty:
        stmt = stmt.where(
            or_(
                RUNS.c.status != RunStatus.OK,
                RUNS.c.requests != 0,
                RUNS.c.delivered != 0,
                RUNS.c.rejected != 0,
            )
        )
    if destination:
        ids = [i for i, n in names.items() if n == destination]
        stmt = stmt.where(RUNS.c.destination_id.in_(ids))
    return [
        RunRow(
            r.id,
            names.get(r.destination_id, "?"),
            r.trigger,
            r.status,
            r.started_at,
            r.finished_at,
            r.added,
            r.changed,
            r.removed,
            r.delivered,
            r.rejected,
            r.suppressed,
            r.skipped,
            r.filtered,
            r.requests,
            r.message,
        )
        for r in conn.execute(stmt)
    ]


def run_rows_page(
    conn: Connection,
    run_id: int,
    *,
    limit: int = 50,
    after: int | None = None,
    status: str | None = None,
) -> list[FailureRow]:
    """Outbox rows last changed by a run (its deliveries and failures), by id, starting just
    past row id `after` (keyset paging); `status` keeps the rows in that `OutboxStatus`."""
    names = _destination_names(conn)
    stmt = (
        select(*_FAILURE_COLUMNS, OUTBOX.c.status)
        .where(OUTBOX.c.run_id == run_id)
        .order_by(OUTBOX.c.id)
        .limit(limit)
    )
    if status:
        stmt = stmt.where(OUTBOX.c.status == status)
    if after is not None:
        stmt = stmt.where(OUTBOX.c.id > after)
    return [_failure_row(r, names, f"{r.kind} ({r.status})") for r in conn.execute(stmt)]


# -- choices offered by the forms ------------------------------------------------------------


def authorization_labels(conn: Connection) -> list[str]:
    """The saved authorizations, by label (the destination form's picker)."""
    return list(conn.scalars(select(AUTHORIZATIONS.c.label).order_by(AUTHORIZATIONS.c.label)))


def audience_names(conn: Connection) -> list[str]:
    """Names of the store's audiences, sorted; what a ReSci export may pick from."""
    return [audience.name for audience in list_audiences(conn)]


def event_names(conn: Connection, limit: int = 200) -> list[str]:
    """Distinct event names in the store (read through the `event` index), for suggestions."""
    return list(
        conn.execute(select(EVENTS.c.event).distinct().order_by(EVENTS.c.event).limit(limit))
        .scalars()
        .all()
    )


@dataclass(frozen=True)
class OutboxState:
    """Where one outbox row stands now (after a retry, say)."""

    id: int
    status: str
    http_status: int | None
    feedback: str | None
    attempts: int
    updated_at: str


def outbox_states(conn: Connection, row_ids: list[int]) -> dict[int, OutboxState]:
    """The current status of the given outbox rows, by id (looked up by primary key)."""
    found: dict[int, OutboxState] = {}
    for start in range(0, len(row_ids), 900):
        chunk = row_ids[start : start + 900]
        for r in conn.execute(
            select(
                OUTBOX.c.id,
                OUTBOX.c.status,
                OUTBOX.c.http_status,
                OUTBOX.c.feedback,
                OUTBOX.c.attempts,
                OUTBOX.c.updated_at,
            ).where(OUTBOX.c.id.in_(chunk))
        ):
            found[r.id] = OutboxState(
                r.id, r.status, r.http_status, r.feedback, r.attempts, r.updated_at
            )
    return found


def iter_failures(
    conn: Connection, flt: FailureFilter = FailureFilter(), *, sort: str = "newest"
) -> Iterator[FailureRow]:
    """Every failure matching a filter, streamed (for exports of a filtered view)."""
    names = _destination_names(conn)
    stmt = _failures_select(conn, flt, sort)
    for r in conn.execution_options(yield_per=2000).execute(stmt):
        yield _failure_row(r, names)
