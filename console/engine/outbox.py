"""Outbox writes: queue rows, claim due rows, record outcomes, re-queue failures.

The engine is the only writer of these rows. Every function takes a connection inside a write
transaction (`Store.write()`), so callers decide what commits together.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, and_, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from console.destinations.base import Outcome, OutgoingRow, RowOutcome
from state import clock
from state.models import DELIVERED, FAILED, QUEUED, DailyStat, OutboxRow

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
    if conn.dialect.name == "postgresql":
        return pg_insert(OUTBOX).on_conflict_do_nothing(
            index_elements=["destination_id", "message_id"]
        )
    return sqlite_insert(OUTBOX).on_conflict_do_nothing(
        index_elements=["destination_id", "message_id"]
    )


def queue_rows(conn: Connection, destination_id: int, run_id: int, rows: Sequence[NewRow]) -> int:
    """Insert rows not already in this destination's outbox (by messageId); returns how many
    are new. Rows with a `problem` land as failures at once, counted in today's failures."""
    if not rows:
        return 0
    now, day = clock.now_iso(), clock.today()
    values = [
        {
            "destination_id": destination_id,
            "kind": row.kind,
            "message_id": row.message_id,
            "email": row.email,
            "payload": row.payload,
            "status": FAILED if row.problem else QUEUED,
            "attempts": 0,
            "next_attempt_at": now,
            "feedback": row.problem,
            "created_at": now,
            "updated_at": now,
            "day": day,
            "run_id": run_id,
        }
        for row in rows
    ]
    result = conn.execute(_insert_ignore(conn), values)
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
    stmt = pg_insert(table) if conn.dialect.name == "postgresql" else sqlite_insert(table)
    stmt = stmt.values(destination_id=destination_id, day=day, **counts)
    stmt = stmt.on_conflict_do_update(
        index_elements=["destination_id", "day"],
        set_={k: getattr(table.c, k) + v for k, v in counts.items()},
    )
    conn.execute(stmt)


def claim_due(
    conn: Connection, destination_id: int, after_id: int, limit: int
) -> list[OutgoingRow]:
    """Queued rows due now with an id above `after_id`, oldest first."""
    now = clock.now_iso()
    stmt = (
        select(OUTBOX.c.id, OUTBOX.c.kind, OUTBOX.c.message_id, OUTBOX.c.email, OUTBOX.c.payload)
        .where(
            and_(
                OUTBOX.c.destination_id == destination_id,
                OUTBOX.c.status == QUEUED,
                OUTBOX.c.next_attempt_at <= now,
                OUTBOX.c.id > after_id,
            )
        )
        .order_by(OUTBOX.c.id)
        .limit(limit)
    )
    return [OutgoingRow(*row) for row in conn.execute(stmt)]


def next_due(conn: Connection, destination_id: int) -> str | None:
    """When the earliest queued row of a destination is due, or None when nothing is queued."""
    return conn.execute(
        select(func.min(OUTBOX.c.next_attempt_at)).where(
            OUTBOX.c.destination_id == destination_id, OUTBOX.c.status == QUEUED
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
            wait = policy.delay(attempts, outcome.retry_after)
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
        for start in range(0, len(delivered_ids), 900):
            chunk = delivered_ids[start : start + 900]
            conn.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id.in_(chunk))
                .values(
                    status=DELIVERED,
                    attempts=OUTBOX.c.attempts + 1,
                    feedback=None,
                    updated_at=now,
                    day=day,
                    run_id=run_id,
                )
            )
    if failed:
        for values in failed:
            values.setdefault("b_attempts", None)
        conn.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id == bindparam("b_id"))
            .values(
                status=FAILED,
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
            .where(OUTBOX.c.id.in_(chunk), OUTBOX.c.status == FAILED)
            .group_by(OUTBOX.c.destination_id, OUTBOX.c.day)
        ).all()
        for destination_id, day, count in per_day:
            bump_stats(conn, destination_id, day, failures=-count)
        result = conn.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id.in_(chunk), OUTBOX.c.status == FAILED)
            .values(status=QUEUED, attempts=0, next_attempt_at=now, updated_at=now)
        )
        requeued += result.rowcount or 0
    return requeued
