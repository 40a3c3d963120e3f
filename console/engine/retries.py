"""When to retry: the engine's policy over a batch's outcomes, written through `state.outbox`.

Retryable replies come back after an exponential backoff with jitter (or the receiver's
`Retry-After`), a bounded number of times; past that the row is a failure with its feedback.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from console.core import clock
from console.destinations.base import Outcome, RowOutcome
from state.db import Connection
from state.outbox import Failure, Retry, attempts_of
from state.outbox import record_outcomes as store_outcomes


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, `Retry-After` honoured, a bounded number of attempts."""

    base_seconds: float = 1.0
    cap_seconds: float = 300.0
    max_attempts: int = 8

    def delay(self, attempts: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        factor: int = 2 ** max(0, attempts - 1)
        backoff = min(self.cap_seconds, self.base_seconds * factor)
        return backoff * random.uniform(0.5, 1.0)


@dataclass
class RecordTotals:
    delivered: int = 0
    failed: int = 0
    retrying: int = 0


def record_outcomes(
    conn: Connection,
    destination_id: int,
    run_id: int,
    outcomes: Iterable[RowOutcome],
    policy: RetryPolicy,
    kinds: Mapping[int, str] | None = None,
) -> RecordTotals:
    """Write each row's outcome; retries past the policy's attempts become failures. `kinds`
    (row id -> kind, when the caller holds the rows) saves reading them back."""
    moment = clock.now()
    delivered: list[int] = []
    failures: list[Failure] = []
    retry_rows: list[RowOutcome] = []
    for outcome in outcomes:
        if outcome.outcome is Outcome.DELIVERED:
            delivered.append(outcome.row_id)
        elif outcome.outcome is Outcome.FAILED:
            failures.append(Failure(outcome.row_id, outcome.http_status, outcome.feedback))
        else:
            retry_rows.append(outcome)
    retries: list[Retry] = []
    if retry_rows:
        attempts_by_id = attempts_of(conn, [o.row_id for o in retry_rows])
        # One wait per attempt count and Retry-After, not per row: rows refused together stay
        # due together and go out again as one batch, instead of drifting apart by their jitter
        # into a request each.
        waits: dict[tuple[int, float | None], float] = {}
        for outcome in retry_rows:
            attempts = attempts_by_id.get(outcome.row_id, 0) + 1
            if attempts >= policy.max_attempts:
                failures.append(
                    Failure(
                        outcome.row_id,
                        outcome.http_status,
                        f"gave up after {attempts} attempts: {outcome.feedback}",
                        attempts,
                    )
                )
                continue
            key = (attempts, outcome.retry_after)
            if key not in waits:
                waits[key] = policy.delay(attempts, outcome.retry_after)
            retries.append(
                Retry(
                    outcome.row_id,
                    attempts,
                    clock.iso(moment + timedelta(seconds=waits[key])),
                    outcome.http_status,
                    outcome.feedback,
                )
            )
    store_outcomes(
        conn,
        destination_id,
        run_id,
        moment,
        delivered=delivered,
        retries=retries,
        failures=failures,
        delivered_kinds=kinds,
    )
    return RecordTotals(delivered=len(delivered), failed=len(failures), retrying=len(retries))
