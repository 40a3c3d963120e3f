"""How a run counts, and what its end says about the destination's health.

The run rows and leases themselves are stored by `state.runs`; this module keeps the engine's
policy: the counters History shows, and when a destination turns unhealthy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from console.core import clock
from state.db import Connection
from state.runs import close_run, consecutive_failures, record_health

UNHEALTHY_AFTER = 3  # consecutive runs that delivered nothing and hit errors


@dataclass
class RunCounts:
    """What a run did, as History shows it."""

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
    notes: list[str] = field(default_factory=list)
    attention: list[str] = field(default_factory=list)
    """Why the run needs an operator though no row failed (an import job past its limit):
    said first in the run's line, and the run is not `ok`."""
    jobs_pending: int = 0
    """Import jobs the destination is still waiting for (`--run-once --wait-jobs` polls on)."""

    def add(self, other: RunCounts) -> None:
        """Take another's counts (a transaction's, once it committed)."""
        for name, value in other.as_row().items():
            setattr(self, name, getattr(self, name) + value)
        self.notes.extend(other.notes)

    def __add__(self, other: RunCounts) -> RunCounts:
        total = replace(self, notes=list(self.notes), attention=list(self.attention))
        total.add(other)
        return total

    def as_row(self) -> dict[str, int]:
        data = asdict(self)
        for unstored in ("notes", "attention", "jobs_pending"):
            data.pop(unstored)
        return data


def finish_run(
    conn: Connection,
    run_id: int,
    destination_id: int,
    counts: RunCounts,
    status: str,
    message: str | None,
    *,
    errored: bool,
    unhealthy_after: int = UNHEALTHY_AFTER,
) -> None:
    """Close the run and update the destination's last result and health (unhealthy after
    `unhealthy_after` failing runs in a row)."""
    now = clock.now_iso()
    close_run(conn, run_id, status, now, message, counts.as_row())
    failures = consecutive_failures(conn, destination_id)
    failing = errored and counts.delivered == 0
    if failing:
        failures += 1
    elif counts.delivered or counts.requests:
        failures = 0
    # else: the run sent nothing (its rows were waiting for their retry time), so it says
    # nothing about the receiver: the streak neither grows nor resets.
    healthy = failures < unhealthy_after
    record_health(
        conn,
        destination_id,
        last_run_at=now,
        last_result=message,
        failures=failures,
        health_note=None if healthy else f"{failures} runs in a row failed: {message}",
    )
