"""Failures as the screens, the CLI and the exports read them: one page at a time through an index
(newest first, by email or by status), counts and ids for a filter, a row's payload, and where
rows stand after a retry."""

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

from console.core.vocab import OutboxStatus
from state.db import IN_CHUNK
from state.destinations import destination_names
from state.models import Destination, OutboxRow, table_of

OUTBOX = table_of(OutboxRow)
DESTINATIONS = table_of(Destination)


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


# What a FailureRow is read from; History reads a run's rows with them too (`state.history`).
FAILURE_COLUMNS = (
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
        select(*FAILURE_COLUMNS)
        .where(and_(*_failure_conditions(conn, flt)))
        .order_by(*FAILURE_SORTS[sort])
    )


def failure_row(r: Any, names: dict[int, str], kind: str | None = None) -> FailureRow:
    """A row read with FAILURE_COLUMNS; `kind` replaces its kind as shown (History's
    "track (delivered)")."""
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
    names = destination_names(conn)
    stmt = _failures_select(conn, flt, sort).limit(limit)
    if after is not None:
        stmt = stmt.where(_failures_after(conn, sort, after))
    return [failure_row(r, names) for r in conn.execute(stmt)]


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
    for start in range(0, len(row_ids), IN_CHUNK):
        chunk = row_ids[start : start + IN_CHUNK]
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
    names = destination_names(conn)
    stmt = _failures_select(conn, flt, sort)
    for r in conn.execution_options(yield_per=2000).execute(stmt):
        yield failure_row(r, names)
