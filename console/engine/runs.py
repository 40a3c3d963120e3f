"""Run rows (History) and destination leases.

A lease makes sure one engine at a time works a destination: the console's scheduler and a
`--run-once` from cron may share a store. A lease held by a process that is gone (killed with
SIGKILL, say) is taken over at once instead of after its expiry.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import asdict, dataclass, field
from datetime import timedelta

from sqlalchemy import Connection, or_, select, update

from console.core import clock
from console.core.vocab import RunStatus
from state.models import Destination, SyncRun

DESTINATIONS = Destination.__table__
RUNS = SyncRun.__table__
LEASE_SECONDS = 120
UNHEALTHY_AFTER = 3  # consecutive runs that delivered nothing and hit errors
# Leases this process holds right now. A holder naming this process's pid is alive only if it
# is one of these: otherwise it is a dead process whose pid this one happens to reuse.
_LIVE_OWNERS: set[str] = set()


def owner_id() -> str:
    """`host:pid:nonce` of this engine."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _owner_alive(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True  # another machine's lease: trust its expiry
    if int(pid_text) == os.getpid():
        return owner in _LIVE_OWNERS
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def acquire_lease(conn: Connection, destination_id: int, owner: str) -> str | None:
    """Take the destination's lease. Returns None on success, else the holder's `host:pid`."""
    now = clock.now()
    until = clock.iso(now + timedelta(seconds=LEASE_SECONDS))
    result = conn.execute(
        update(DESTINATIONS)
        .where(
            DESTINATIONS.c.id == destination_id,
            or_(
                DESTINATIONS.c.lease_owner.is_(None),
                DESTINATIONS.c.lease_owner == owner,
                DESTINATIONS.c.lease_until < clock.iso(now),
            ),
        )
        .values(lease_owner=owner, lease_until=until)
    )
    if result.rowcount:
        _LIVE_OWNERS.add(owner)
        return None
    holder = conn.execute(
        select(DESTINATIONS.c.lease_owner).where(DESTINATIONS.c.id == destination_id)
    ).scalar()
    if holder and not _owner_alive(holder):
        taken = conn.execute(
            update(DESTINATIONS)
            .where(DESTINATIONS.c.id == destination_id, DESTINATIONS.c.lease_owner == holder)
            .values(lease_owner=owner, lease_until=until)
        )
        # Zero rows: another engine took it over first (possible where the database does not
        # serialise whole transactions); it is that engine's now.
        if taken.rowcount:
            _LIVE_OWNERS.add(owner)
            return None
        holder = conn.execute(
            select(DESTINATIONS.c.lease_owner).where(DESTINATIONS.c.id == destination_id)
        ).scalar()
    return ":".join((holder or "?").split(":")[:2])


def renew_lease(conn: Connection, destination_id: int, owner: str) -> None:
    until = clock.iso(clock.now() + timedelta(seconds=LEASE_SECONDS))
    conn.execute(
        update(DESTINATIONS)
        .where(DESTINATIONS.c.id == destination_id, DESTINATIONS.c.lease_owner == owner)
        .values(lease_until=until)
    )


def release_lease(conn: Connection, destination_id: int, owner: str) -> None:
    _LIVE_OWNERS.discard(owner)
    conn.execute(
        update(DESTINATIONS)
        .where(DESTINATIONS.c.id == destination_id, DESTINATIONS.c.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
    )


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

    def as_row(self) -> dict[str, int]:
        data = asdict(self)
        data.pop("notes")
        return data


def start_run(conn: Connection, destination_id: int, trigger: str) -> int:
    result = conn.execute(
        RUNS.insert().values(
            destination_id=destination_id, trigger=trigger, started_at=clock.now_iso()
        )
    )
    return int(result.inserted_primary_key[0])


def save_progress(conn: Connection, run_id: int, counts: RunCounts) -> None:
    conn.execute(update(RUNS).where(RUNS.c.id == run_id).values(**counts.as_row()))


def finish_run(
    conn: Connection,
    run_id: int,
    destination_id: int,
    counts: RunCounts,
    status: str,
    message: str | None,
    *,
    errored: bool,
) -> None:
    """Close the run and update the destination's last result and health."""
    now = clock.now_iso()
    conn.execute(
        update(RUNS)
        .where(RUNS.c.id == run_id)
        .values(status=status, finished_at=now, message=message, **counts.as_row())
    )
    failures = conn.execute(
        select(DESTINATIONS.c.consecutive_failures).where(DESTINATIONS.c.id == destination_id)
    ).scalar_one()
    failing = errored and counts.delivered == 0
    if failing:
        failures += 1
    elif counts.delivered or counts.requests:
        failures = 0
    # else: the run sent nothing (its rows were waiting for their retry time), so it says
    # nothing about the receiver: the streak neither grows nor resets.
    healthy = failures < UNHEALTHY_AFTER
    conn.execute(
        update(DESTINATIONS)
        .where(DESTINATIONS.c.id == destination_id)
        .values(
            last_run_at=now,
            last_result=message,
            consecutive_failures=failures,
            healthy=healthy,
            health_note=None if healthy else f"{failures} runs in a row failed: {message}",
        )
    )


def close_abandoned_runs(conn: Connection, destination_id: int) -> int:
    """Runs left `running` by a process that died are closed as interrupted."""
    result = conn.execute(
        update(RUNS)
        .where(RUNS.c.destination_id == destination_id, RUNS.c.status == RunStatus.RUNNING)
        .values(status=RunStatus.INTERRUPTED, finished_at=clock.now_iso(), message="process ended")
    )
    return result.rowcount or 0
