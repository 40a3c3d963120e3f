"""Outbox writes: queue rows, claim due rows, record outcomes, re-queue failures.

The engine is the only writer of these rows. Every function takes a connection inside a write
transaction (`Store.write()`), so callers decide what commits together.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, CursorResult, and_, bindparam, func, select, text, update

from console.core import clock
from console.core.vocab import STATE_KINDS, OutboxStatus
from console.destinations.base import Outcome, OutgoingRow, RowOutcome
from console.destinations.kind import PlannedMessage
from state.db import conflict_insert
from state.models import RETRYING_STATE_ROWS, DailyStat, OutboxRow

OUTBOX = OutboxRow.__table__
STATS = DailyStat.__table__


@dataclass(frozen=True, slots=True)
class NewRow:
    """A message to queue (or to record at once as a local failure, when `problem` is set)."""

    kind: str
    message_id: str
    email: str | None
    payload: bytes
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, `Retry-After` honoured, a bounded number of attempts."""

    base_seconds: float = 1.0
    cap_seconds: float = 300.0
    max_attempts: int = 8

    def delay(self, attempts: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        backoff = min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempts - 1))
        return backoff * random.uniform(0.5, 1.0)


@dataclass
class RecordTotals:
    delivered: int = 0
    failed: int = 0
    retrying: int = 0


def _insert_ignore(conn: Connection):  # type: ignore[no-untyped-def]
    return conflict_insert(conn, OUTBOX).on_conflict_do_nothing(
        index_elements=["destination_id", "message_id"]
    )


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
_compiled_inserts: dict[str, tuple[str, tuple[int, ...] | None]] = {}


def _bulk_insert_ignore(conn: Connection, values: list[tuple[object, ...]]) -> CursorResult:
    """`_insert_ignore` for rows given as tuples in `_QUEUE_COLUMNS` order, compiled once per
    dialect and run as a single DBAPI executemany."""
    dialect = conn.dialect
    cached = _compiled_inserts.get(dialect.name)
    if cached is None:
        stmt = _insert_ignore(conn).values({name: bindparam(name) for name in _QUEUE_COLUMNS})
        compiled = stmt.compile(dialect=dialect)
        positions = None
        if compiled.positional:
            order = list(compiled.positiontup or ())
            positions = tuple(_QUEUE_COLUMNS.index(name) for name in order)
        cached = _compiled_inserts[dialect.name] = (compiled.string, positions)
    sql, positions = cached
    params: list[Any]
    if positions is None:
        params = [dict(zip(_QUEUE_COLUMNS, row, strict=True)) for row in values]
    elif positions == tuple(range(len(_QUEUE_COLUMNS))):
        params = values
    else:
        params = [tuple(row[i] for i in positions) for row in values]
    return conn.exec_driver_sql(sql, params)


def queue_rows(
    conn: Connection, destination_id: int, run_id: int, rows: Sequence[NewRow | PlannedMessage]
) -> int:
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
    result = _bulk_insert_ignore(conn, values)
    inserted = result.rowcount if result.rowcount is not None and result.rowcount >= 0 else 0
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


# NOT INDEXED keeps the planner on the rowid (id) order; the filters stay the same.
_SQLITE_CLAIM = (
    "SELECT id, kind, message_id, email, payload FROM outbox NOT INDEXED "
    "WHERE id > ? AND destination_id = ? AND status = ? AND next_attempt_at <= ? "
    "ORDER BY id LIMIT ?"
)
_SQLITE_FIRST_DUE = (
    "SELECT min(id) FROM outbox WHERE destination_id = ? AND status = ? AND next_attempt_at <= ?"
)


def claim_due(
    conn: Connection, destination_id: int, after_id: int, limit: int
) -> list[OutgoingRow]:
    """Queued rows due now with an id above `after_id`, oldest first.

    On SQLite the rows are read walking the table in id order from `after_id`: the claim index
    (destination, status, next_attempt_at) cannot give id order, so using it meant reading and
    sorting every queued row on each claim, quadratic in the queue's length. A pass's first
    claim (`after_id` 0) starts at the first due row that index finds, so rows delivered long
    ago are never walked.
    """
    now = clock.now_iso()
    if conn.dialect.name == "sqlite":
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
        return [OutgoingRow(*row) for row in found]
    stmt = (
        select(OUTBOX.c.id, OUTBOX.c.kind, OUTBOX.c.message_id, OUTBOX.c.email, OUTBOX.c.payload)
        .where(
            and_(
                OUTBOX.c.destination_id == destination_id,
                OUTBOX.c.status == OutboxStatus.QUEUED,
                OUTBOX.c.next_attempt_at <= now,
                OUTBOX.c.id > after_id,
            )
        )
        .order_by(OUTBOX.c.id)
        .limit(limit)
    )
    return [OutgoingRow(*row) for row in conn.execute(stmt)]


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
    conn: Connection, destination_id: int, rows: Sequence[OutgoingRow]
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
    for start in range(0, len(emails), 900):
        found = conn.execute(
            _OLDEST_RETRYING_STATE,
            {"destination_id": destination_id, "emails": emails[start : start + 900]},
        )
        oldest.update((email, int(first)) for email, first in found)
    blocked = {
        row.id: oldest[row.email]
        for row in rows
        if row.kind in STATE_KINDS and row.email and oldest.get(row.email, row.id) < row.id
    }
    if not blocked:
        return {}
    due_at = dict(
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


def next_due(conn: Connection, destination_id: int) -> str | None:
    """When the earliest queued row of a destination is due, or None when nothing is queued."""
    return conn.execute(
        select(func.min(OUTBOX.c.next_attempt_at)).where(
            OUTBOX.c.destination_id == destination_id, OUTBOX.c.status == OutboxStatus.QUEUED
        )
    ).scalar()


def record_outcomes(
    conn: Connection,
    destination_id: int,
    run_id: int,
    outcomes: Iterable[RowOutcome],
    policy: RetryPolicy,
) -> RecordTotals:
    """Write each row's outcome; retries past the policy's attempts become failures."""
    moment = clock.now()
    now, day = clock.iso(moment), moment.strftime("%Y-%m-%d")
    delivered_ids: list[int] = []
    failed: list[dict[str, object]] = []
    retry_rows: list[RowOutcome] = []
    for outcome in outcomes:
        if outcome.outcome is Outcome.DELIVERED:
            delivered_ids.append(outcome.row_id)
        elif outcome.outcome is Outcome.FAILED:
            failed.append(_failure_values(outcome, outcome.feedback))
        else:
            retry_rows.append(outcome)
    totals = RecordTotals(delivered=len(delivered_ids))
    if retry_rows:
        attempts_by_id = dict(
            conn.execute(
                select(OUTBOX.c.id, OUTBOX.c.attempts).where(
                    OUTBOX.c.id.in_([o.row_id for o in retry_rows])
                )
            ).all()
        )
        retries: list[dict[str, object]] = []
        # One wait per attempt count and Retry-After, not per row: rows refused together stay
        # due together and go out again as one batch, instead of drifting apart by their jitter
        # into a request each.
        waits: dict[tuple[int, float | None], float] = {}
        for outcome in retry_rows:
            attempts = attempts_by_id.get(outcome.row_id, 0) + 1
            if attempts >= policy.max_attempts:
                failed.append(
                    _failure_values(
                        outcome, f"gave up after {attempts} attempts: {outcome.feedback}"
                    )
                    | {"b_attempts": attempts}
                )
                continue
            key = (attempts, outcome.retry_after)
            if key not in waits:
                waits[key] = policy.delay(attempts, outcome.retry_after)
            wait = waits[key]
            retries.append(
                {
                    "b_id": outcome.row_id,
                    "b_attempts": attempts,
                    "b_next": clock.iso(moment + timedelta(seconds=wait)),
                    "b_status": outcome.http_status,
                    "b_feedback": outcome.feedback,
                }
            )
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
                retries,
            )
        totals.retrying = len(retries)
    if delivered_ids:
        # Claimed rows come in id order, so a batch's ids are a few runs of consecutive
        # numbers: one `id BETWEEN` per run instead of binding every id.
        conn.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id.between(bindparam("b_low"), bindparam("b_high")))
            .values(
                status=OutboxStatus.DELIVERED,
                attempts=OUTBOX.c.attempts + 1,
                feedback=None,
                updated_at=now,
                day=day,
                run_id=run_id,
            ),
            [{"b_low": low, "b_high": high} for low, high in _id_runs(delivered_ids)],
        )
    if failed:
        for values in failed:
            values.setdefault("b_attempts", None)
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
            failed,
        )
        totals.failed = len(failed)
    bump_stats(conn, destination_id, day, completions=totals.delivered, failures=totals.failed)
    return totals


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


def _failure_values(outcome: RowOutcome, feedback: str | None) -> dict[str, object]:
    return {"b_id": outcome.row_id, "b_status": outcome.http_status, "b_feedback": feedback}


def requeue_failures(conn: Connection, row_ids: Sequence[int]) -> int:
    """Put failed rows back in the queue (operator's retry): attempts start again, and the
    failure leaves the day it was counted on. Returns how many rows were re-queued."""
    if not row_ids:
        return 0
    now = clock.now_iso()
    requeued = 0
    for start in range(0, len(row_ids), 900):
        chunk = list(row_ids[start : start + 900])
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
