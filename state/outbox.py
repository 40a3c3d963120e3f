"""The outbox as stored: queue rows, claim due rows, record outcomes, re-queue failures, and the
per-day counters kept beside them.

Every function takes a connection inside a transaction (`Store.write()` for writes), so callers
decide what commits together. What to claim and when to retry is the engine's policy; this module
only knows how the rows are stored and which statements read them fast on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    TextClause,
    and_,
    bindparam,
    func,
    select,
    text,
    update,
)

from console.core import clock
from console.core.vocab import STATE_KINDS, OutboxStatus
from state.bulk import BulkStatement, bulk_insert
from state.daily_streams import bump_stream_completions, count_delivered_streams, stream_of
from state.db import IN_CHUNK, conflict_insert
from state.models import RETRYING_STATE_ROWS, DailyStat, OutboxRow, table_of
from state.sharing import SLOT_OF_ROW

OUTBOX = table_of(OutboxRow)
STATS = table_of(DailyStat)
SCATTERED = 8
"""A batch of delivered ids with more than one run of consecutive ids per this many ids is
updated by its ids, not by its runs."""


class Message(Protocol):
    """What `queue_rows` stores of a message: a `NewRow`, or any planner's own message type
    with these fields (state/ never imports the kinds that define them)."""

    @property
    def kind(self) -> str: ...
    @property
    def message_id(self) -> str: ...
    @property
    def email(self) -> str | None: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def problem(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class NewRow:
    """A message to queue (or to record at once as a local failure, when `problem` is set)."""

    kind: str
    message_id: str
    email: str | None
    payload: bytes
    problem: str | None = None


Claimed = tuple[int, str, str, str | None, bytes]
"""A claimed row: (id, kind, message_id, email, payload)."""


class ClaimedRow(Protocol):
    """What the ordering checks read of a claimed row (the engine's `OutgoingRow` is one)."""

    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def email(self) -> str | None: ...


# --- queueing ------------------------------------------------------------------------------

_QUEUE_COLUMNS = (
    "destination_id",
    "kind",
    "message_id",
    "email",
    "payload",
    "status",
    "attempts",
    "next_attempt_at",
    "feedback",
    "created_at",
    "updated_at",
    "day",
    "run_id",
)
# Compiled once per dialect: queue_rows runs once per planned chunk.
_queue_inserts: dict[str, BulkStatement] = {}


def _queue_insert(conn: Connection) -> BulkStatement:
    statement = _queue_inserts.get(conn.dialect.name)
    if statement is None:
        statement = _queue_inserts[conn.dialect.name] = bulk_insert(
            conn, OUTBOX, _QUEUE_COLUMNS, ignore_conflicts_on=("destination_id", "message_id")
        )
    return statement


def queue_rows(conn: Connection, destination_id: int, run_id: int, rows: Sequence[Message]) -> int:
    """Insert rows not already in this destination's outbox (by messageId); returns how many
    are new. Rows with a `problem` land as failures at once, counted in today's failures."""
    if not rows:
        return 0
    now, day = clock.now_iso(), clock.today()
    # Tuples in _QUEUE_COLUMNS order, run as one DBAPI executemany: building and binding a
    # parameter dict per row through SQLAlchemy cost more than SQLite's own insert.
    values = [
        (
            destination_id,
            row.kind,
            row.message_id,
            row.email,
            row.payload,
            OutboxStatus.FAILED if row.problem else OutboxStatus.QUEUED,
            0,
            now,
            row.problem,
            now,
            now,
            day,
            run_id,
        )
        for row in rows
    ]
    result = _queue_insert(conn).run(conn, values)
    rowcount = result.rowcount if result is not None else None
    inserted = rowcount if rowcount is not None and rowcount >= 0 else 0
    local_failures = sum(1 for row in rows if row.problem)
    if local_failures:
        bump_stats(conn, destination_id, day, failures=local_failures)
    return inserted


def bump_stats(conn: Connection, destination_id: int, day: str, **counts: int) -> None:
    """Add to a destination's counters for a day (completions, failures, suppressed, skipped)."""
    counts = {k: v for k, v in counts.items() if v}
    if not counts:
        return
    table = STATS
    stmt = conflict_insert(conn, table)
    stmt = stmt.values(destination_id=destination_id, day=day, **counts)
    stmt = stmt.on_conflict_do_update(
        index_elements=["destination_id", "day"],
        set_={k: getattr(table.c, k) + v for k, v in counts.items()},
    )
    conn.execute(stmt)


# --- claiming ------------------------------------------------------------------------------

# NOT INDEXED keeps the planner on the rowid (id) order; the filters stay the same.
_SQLITE_CLAIM = (
    "SELECT id, kind, message_id, email, payload FROM outbox NOT INDEXED "
    "WHERE id > ? AND destination_id = ? AND status = ? AND next_attempt_at <= ? "
    "ORDER BY id LIMIT ?"
)
_SQLITE_FIRST_DUE = (
    "SELECT min(id) FROM outbox WHERE destination_id = ? AND status = ? AND next_attempt_at <= ?"
)


def _in_slot(slot: int | None) -> list[ColumnElement[bool] | TextClause]:
    """The filter to one slot of a destination shared by workers (PostgreSQL; state/sharing)."""
    if slot is None:
        return []
    return [text(f"{SLOT_OF_ROW} = :slot").bindparams(slot=slot)]


def claim_due(
    conn: Connection, destination_id: int, after_id: int, limit: int, slot: int | None = None
) -> Sequence[Claimed]:
    """Queued rows due now with an id above `after_id`, oldest first, as
    (id, kind, message_id, email, payload) tuples; only the `slot`'s when it is given
    (workers sharing the destination on PostgreSQL).

    On SQLite the rows are read walking the table in id order from `after_id`: the claim index
    (destination, status, next_attempt_at) cannot give id order, so using it meant reading and
    sorting every queued row on each claim, quadratic in the queue's length. A pass's first
    claim (`after_id` 0) starts at the first due row that index finds, so rows delivered long
    ago are never walked.
    """
    now = clock.now_iso()
    if conn.dialect.name == "sqlite" and slot is None:
        if after_id <= 0:
            first = conn.exec_driver_sql(
                _SQLITE_FIRST_DUE, (destination_id, OutboxStatus.QUEUED, now)
            ).scalar()
            if first is None:
                return []
            after_id = int(first) - 1
        found = conn.exec_driver_sql(
            _SQLITE_CLAIM, (after_id, destination_id, OutboxStatus.QUEUED, now, limit)
        ).fetchall()
        return cast("list[Claimed]", found)
    stmt = (
        select(OUTBOX.c.id, OUTBOX.c.kind, OUTBOX.c.message_id, OUTBOX.c.email, OUTBOX.c.payload)
        .where(
            and_(
                OUTBOX.c.destination_id == destination_id,
                OUTBOX.c.status == OutboxStatus.QUEUED,
                OUTBOX.c.next_attempt_at <= now,
                OUTBOX.c.id > after_id,
                *_in_slot(slot),
            )
        )
        .order_by(OUTBOX.c.id)
        .limit(limit)
    )
    return cast("list[Claimed]", conn.execute(stmt).all())


_OLDEST_RETRYING_STATE = text(
    "SELECT email, min(id) FROM outbox "
    f"WHERE destination_id = :destination_id AND {RETRYING_STATE_ROWS} AND email IN :emails "
    "GROUP BY email"
).bindparams(bindparam("emails", expanding=True))


_ANY_RETRYING_STATE = (
    "SELECT 1 FROM outbox {hint} WHERE destination_id = :destination_id AND "
    f"{RETRYING_STATE_ROWS} LIMIT 1"
)


def any_retrying_state(conn: Connection, destination_id: int) -> bool:
    """Whether some state row of the destination waits for a retry: when none does, no
    claimed row can have an older version waiting, and the check per batch is skipped. SQLite
    is told to use the index of retrying rows, which its planner would otherwise pass over
    for the claim index and walk every queued row."""
    hint = "INDEXED BY ix_outbox_retrying" if conn.dialect.name == "sqlite" else ""
    sql = text(_ANY_RETRYING_STATE.format(hint=hint))
    return conn.execute(sql, {"destination_id": destination_id}).first() is not None


def waiting_for_older_versions(
    conn: Connection, destination_id: int, rows: Sequence[ClaimedRow]
) -> dict[int, str]:
    """Claimed state rows (identify, user update) that must wait: an older state row of the
    same contact is waiting for its retry, and sending this one first would let the older
    state win at the destination. Returns row id -> the older row's next attempt, which is
    when the waiting row may be claimed again. (Older rows never tried yet are claimed first,
    in id order; the engine keeps two of one contact out of the same pass.)"""
    emails = list({row.email for row in rows if row.kind in STATE_KINDS and row.email})
    if not emails:
        return {}
    oldest: dict[str, int] = {}
    for start in range(0, len(emails), IN_CHUNK):
        found = conn.execute(
            _OLDEST_RETRYING_STATE,
            {"destination_id": destination_id, "emails": emails[start : start + IN_CHUNK]},
        )
        oldest.update((email, int(first)) for email, first in found)
    blocked = {
        row.id: oldest[row.email]
        for row in rows
        if row.kind in STATE_KINDS and row.email and oldest.get(row.email, row.id) < row.id
    }
    if not blocked:
        return {}
    due_at: dict[int, str] = dict(
        conn.execute(
            select(OUTBOX.c.id, OUTBOX.c.next_attempt_at).where(
                OUTBOX.c.id.in_(set(blocked.values()))
            )
        ).all()
    )
    return {row_id: str(due_at[older]) for row_id, older in blocked.items()}


def defer_rows(conn: Connection, until: dict[int, str]) -> None:
    """Move rows' next attempt to the given times (never earlier than they already were)."""
    if not until:
        return
    conn.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id == bindparam("b_id"), OUTBOX.c.next_attempt_at < bindparam("b_at"))
        .values(next_attempt_at=bindparam("b_at")),
        [{"b_id": row_id, "b_at": at} for row_id, at in until.items()],
    )


def suppress_rows(conn: Connection, destination_id: int, row_ids: Sequence[int]) -> int:
    """Book queued rows as suppressed (their contact joined the suppression list after they
    were queued): they never leave, and they count in today's `suppressed`, as the plan step
    counts the contacts it leaves out. Returns how many rows changed."""
    if not row_ids:
        return 0
    now, day = clock.now_iso(), clock.today()
    suppressed = 0
    for start in range(0, len(row_ids), IN_CHUNK):
        result = conn.execute(
            update(OUTBOX)
            .where(
                OUTBOX.c.id.in_(list(row_ids[start : start + IN_CHUNK])),
                OUTBOX.c.status == OutboxStatus.QUEUED,
            )
            .values(
                status=OutboxStatus.SUPPRESSED,
                feedback="on the suppression list since it was queued; not sent",
                updated_at=now,
                day=day,
            )
        )
        suppressed += result.rowcount or 0
    bump_stats(conn, destination_id, day, suppressed=suppressed)
    return suppressed


def next_due(conn: Connection, destination_id: int) -> str | None:
    """When the earliest queued row of a destination is due, or None when nothing is queued."""
    return conn.execute(
        select(func.min(OUTBOX.c.next_attempt_at)).where(
            OUTBOX.c.destination_id == destination_id, OUTBOX.c.status == OutboxStatus.QUEUED
        )
    ).scalar()


def queued_count(conn: Connection, destination_id: int, slots: Sequence[int] | None = None) -> int:
    """How many rows of a destination are queued (due now or later); only in `slots` when
    they are given."""
    in_slots: list[ColumnElement[bool] | TextClause] = []
    if slots is not None:
        if not slots:
            return 0
        in_slots.append(
            text(f"{SLOT_OF_ROW} IN :slots").bindparams(
                bindparam("slots", list(slots), expanding=True)
            )
        )
    return int(
        conn.execute(
            select(func.count()).where(
                OUTBOX.c.destination_id == destination_id,
                OUTBOX.c.status == OutboxStatus.QUEUED,
                *in_slots,
            )
        ).scalar_one()
    )


# --- outcomes ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Retry:
    """A row to send again: its attempts so far and when it is due next."""

    row_id: int
    attempts: int
    next_attempt_at: str
    http_status: int | None
    feedback: str | None


@dataclass(frozen=True, slots=True)
class Failure:
    """A row that failed for good. `attempts` None counts this attempt on the stored count."""

    row_id: int
    http_status: int | None
    feedback: str | None
    attempts: int | None = None


def attempts_of(conn: Connection, row_ids: Sequence[int]) -> dict[int, int]:
    """row id -> attempts recorded so far, for rows about to be retried."""
    return dict(
        conn.execute(select(OUTBOX.c.id, OUTBOX.c.attempts).where(OUTBOX.c.id.in_(row_ids))).all()
    )


def record_outcomes(
    conn: Connection,
    destination_id: int,
    run_id: int,
    moment: datetime,
    *,
    delivered: Sequence[int],
    retries: Sequence[Retry],
    failures: Sequence[Failure],
    delivered_kinds: Mapping[int, str] | None = None,
) -> None:
    """Write one batch's outcomes as of `moment` (its date is the day they count on) and add
    the deliveries and failures to that day's counters. The delivered rows' kinds, when the
    caller has them (`delivered_kinds`, by row id), save reading them back for the counters."""
    now, day = clock.iso(moment), moment.strftime("%Y-%m-%d")
    if retries:
        conn.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id == bindparam("b_id"))
            .values(
                attempts=bindparam("b_attempts"),
                next_attempt_at=bindparam("b_next"),
                http_status=bindparam("b_status"),
                feedback=bindparam("b_feedback"),
                updated_at=now,
                run_id=run_id,
            ),
            [
                {
                    "b_id": r.row_id,
                    "b_attempts": r.attempts,
                    "b_next": r.next_attempt_at,
                    "b_status": r.http_status,
                    "b_feedback": r.feedback,
                }
                for r in retries
            ],
        )
    if delivered:
        runs = _id_runs(delivered)
        streams = (
            dict(Counter(stream_of(delivered_kinds[row_id]) for row_id in delivered))
            if delivered_kinds is not None
            else count_delivered_streams(conn, runs)
        )
        bump_stream_completions(conn, destination_id, day, streams)
        delivered_now = update(OUTBOX).values(
            status=OutboxStatus.DELIVERED,
            attempts=OUTBOX.c.attempts + 1,
            feedback=None,
            updated_at=now,
            day=day,
            run_id=run_id,
        )
        if len(runs) * SCATTERED <= len(delivered):
            # Claimed rows come in id order, so a batch's ids are a few runs of consecutive
            # numbers: one `id BETWEEN` per run instead of binding every id.
            conn.execute(
                delivered_now.where(OUTBOX.c.id.between(bindparam("b_low"), bindparam("b_high"))),
                [{"b_low": low, "b_high": high} for low, high in runs],
            )
        else:
            # One slot's rows (workers sharing a destination) are every few ids: a run each.
            ids = sorted(delivered)
            for start in range(0, len(ids), IN_CHUNK):
                conn.execute(delivered_now.where(OUTBOX.c.id.in_(ids[start : start + IN_CHUNK])))
    if failures:
        conn.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id == bindparam("b_id"))
            .values(
                status=OutboxStatus.FAILED,
                attempts=func.coalesce(bindparam("b_attempts"), OUTBOX.c.attempts + 1),
                http_status=bindparam("b_status"),
                feedback=bindparam("b_feedback"),
                updated_at=now,
                day=day,
                run_id=run_id,
            ),
            [
                {
                    "b_id": f.row_id,
                    "b_status": f.http_status,
                    "b_feedback": f.feedback,
                    "b_attempts": f.attempts,
                }
                for f in failures
            ],
        )
    bump_stats(conn, destination_id, day, completions=len(delivered), failures=len(failures))


def _id_runs(ids: Iterable[int]) -> list[tuple[int, int]]:
    """(first, last) of each run of consecutive integers among `ids`, in ascending order."""
    runs: list[tuple[int, int]] = []
    low = high = None
    for value in sorted(set(ids)):
        if high is not None and value == high + 1:
            high = value
            continue
        if low is not None and high is not None:
            runs.append((low, high))
        low = high = value
    if low is not None and high is not None:
        runs.append((low, high))
    return runs


# --- the operator's retry ------------------------------------------------------------------


def requeue_failures(conn: Connection, row_ids: Sequence[int]) -> int:
    """Put failed rows back in the queue (operator's retry): attempts start again, and the
    failure leaves the day it was counted on. Returns how many rows were re-queued."""
    if not row_ids:
        return 0
    now = clock.now_iso()
    requeued = 0
    for start in range(0, len(row_ids), IN_CHUNK):
        chunk = list(row_ids[start : start + IN_CHUNK])
        per_day = conn.execute(
            select(OUTBOX.c.destination_id, OUTBOX.c.day, func.count())
            .where(OUTBOX.c.id.in_(chunk), OUTBOX.c.status == OutboxStatus.FAILED)
            .group_by(OUTBOX.c.destination_id, OUTBOX.c.day)
        ).all()
        for destination_id, day, count in per_day:
            bump_stats(conn, destination_id, day, failures=-count)
        result = conn.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id.in_(chunk), OUTBOX.c.status == OutboxStatus.FAILED)
            .values(status=OutboxStatus.QUEUED, attempts=0, next_attempt_at=now, updated_at=now)
        )
        requeued += result.rowcount or 0
    return requeued


def destinations_of(conn: Connection, row_ids: Sequence[int]) -> list[int]:
    """The distinct destination ids of the given outbox rows, sorted (all of them: the ids
    are looked up IN_CHUNK at a time)."""
    found: set[int] = set()
    for start in range(0, len(row_ids), IN_CHUNK):
        chunk = list(row_ids[start : start + IN_CHUNK])
        found.update(
            conn.execute(
                select(OUTBOX.c.destination_id).where(OUTBOX.c.id.in_(chunk)).distinct()
            ).scalars()
        )
    return sorted(found)
