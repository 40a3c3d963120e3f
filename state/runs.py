"""Run rows (History) and destination leases, as stored.

A lease makes sure one engine at a time works a destination: the console's scheduler and a
`--run-once` from cron may share a store. A lease held by a process that is gone (killed with
SIGKILL, say) is taken over at once instead of after its expiry.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta

from sqlalchemy import Connection, or_, select, update

from console.core import clock
from console.core.vocab import RunStatus
from state.models import Destination, SyncRun, inserted_id, table_of
from state.sharing import worker_of_run_alive, workers_active

DESTINATIONS = table_of(Destination)
RUNS = table_of(SyncRun)
LEASE_SECONDS = 120
WORKERS = "workers"
"""The holder a run that wants a destination alone is told of while workers share it."""
WORKER_RUN_GRACE_SECONDS = 30.0
"""Age before a worker's run can be found dead (see `_close_runs_of_dead_workers`)."""
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


def _host_pid(owner: str) -> str:
    """`host:pid` of an owner id (its nonce left out)."""
    return ":".join(owner.split(":")[:2])


def _lease_free(owner: str | None, until: str | None, now: str) -> bool:
    """Whether a lease is free: never taken, expired, or held by a process that is gone."""
    return owner is None or (until or "") < now or not _owner_alive(owner)


def acquire_lease(conn: Connection, destination_id: int, owner: str) -> str | None:
    """Take the destination's lease. Returns None on success, else the holder's `host:pid`
    (or `workers` while workers share the destination on PostgreSQL)."""
    if workers_active(conn, destination_id):
        return WORKERS
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
    return _host_pid(holder or "?")


def live_lease_holder(conn: Connection, destination_id: int) -> str | None:
    """The `host:pid` of a live engine holding the destination's lease, or None when it is
    free, expired or held by a process that is gone (workers check it as they join)."""
    owner, until = conn.execute(
        select(DESTINATIONS.c.lease_owner, DESTINATIONS.c.lease_until).where(
            DESTINATIONS.c.id == destination_id
        )
    ).one()
    if _lease_free(owner, until, clock.now_iso()):
        return None
    return _host_pid(owner)


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


def abandon_lease(owner: str) -> None:
    """This process stops working under `owner` without having released its lease (the
    closing write failed): the lease left in the store is taken over, and its run closed as
    interrupted, like a dead process's, by the next start in this process or another."""
    _LIVE_OWNERS.discard(owner)


def start_run(conn: Connection, destination_id: int, trigger: str) -> int:
    result = conn.execute(
        RUNS.insert().values(
            destination_id=destination_id, trigger=trigger, started_at=clock.now_iso()
        )
    )
    return inserted_id(result)


def save_progress(conn: Connection, run_id: int, counts: Mapping[str, int]) -> None:
    """Store a running run's counters (History shows them while it goes)."""
    conn.execute(update(RUNS).where(RUNS.c.id == run_id).values(**counts))


def close_run(
    conn: Connection,
    run_id: int,
    status: str,
    finished_at: str,
    message: str | None,
    counts: Mapping[str, int],
) -> None:
    conn.execute(
        update(RUNS)
        .where(RUNS.c.id == run_id)
        .values(status=status, finished_at=finished_at, message=message, **counts)
    )


def set_run_message(conn: Connection, run_id: int, message: str) -> None:
    """Replace a closed run's message (what happened after it ended: an alert that failed)."""
    conn.execute(update(RUNS).where(RUNS.c.id == run_id).values(message=message))


def consecutive_failures(conn: Connection, destination_id: int) -> int:
    """How many runs in a row of the destination failed, as last recorded."""
    return int(
        conn.execute(
            select(DESTINATIONS.c.consecutive_failures).where(DESTINATIONS.c.id == destination_id)
        ).scalar_one()
    )


def record_health(
    conn: Connection,
    destination_id: int,
    *,
    last_run_at: str,
    last_result: str | None,
    failures: int,
    health_note: str | None,
) -> None:
    """The destination's last result and health after a run; healthy when it has no note."""
    conn.execute(
        update(DESTINATIONS)
        .where(DESTINATIONS.c.id == destination_id)
        .values(
            last_run_at=last_run_at,
            last_result=last_result,
            consecutive_failures=failures,
            healthy=health_note is None,
            health_note=health_note,
        )
    )


def close_abandoned_runs(
    conn: Connection, destination_id: int, run_ids: Sequence[int] | None = None
) -> int:
    """Runs left `running` by a process that died (all of the destination's, or those of
    `run_ids`) are closed as interrupted."""
    which = [RUNS.c.destination_id == destination_id, RUNS.c.status == RunStatus.RUNNING]
    if run_ids is not None:
        which.append(RUNS.c.id.in_(run_ids))
    result = conn.execute(
        update(RUNS)
        .where(*which)
        .values(status=RunStatus.INTERRUPTED, finished_at=clock.now_iso(), message="process ended")
    )
    return result.rowcount or 0


def close_runs_of_ended_processes(conn: Connection) -> int:
    """Runs left `running` by a process that ended (killed, or whose closing write failed on a
    full disk) are closed as interrupted, for every destination: the console and `--run-once`
    call it as they start, so History never shows a dead run as running. A run is its
    process's while the destination's lease is: only runs whose destination's lease is free,
    expired, or held by a process that is gone are closed, never a live one's. While workers
    share the destination (PostgreSQL), a run is its worker's while the worker holds the run's
    lock: a dead worker's run is closed by the next worker that starts."""
    now = clock.iso(clock.now())
    held = conn.execute(
        select(DESTINATIONS.c.id, DESTINATIONS.c.lease_owner, DESTINATIONS.c.lease_until).where(
            DESTINATIONS.c.id.in_(
                select(RUNS.c.destination_id).where(RUNS.c.status == RunStatus.RUNNING)
            )
        )
    ).all()
    closed = 0
    for destination_id, lease_owner, lease_until in held:
        if workers_active(conn, destination_id):
            closed += _close_runs_of_dead_workers(conn, destination_id)
        elif _lease_free(lease_owner, lease_until, now):
            closed += close_abandoned_runs(conn, destination_id)
    return closed


def _close_runs_of_dead_workers(conn: Connection, destination_id: int) -> int:
    """While workers share a destination its running runs are theirs; one whose worker no
    longer holds the run's lock died with it. A run younger than the grace is left alone: its
    worker takes the lock just after writing the run."""
    grown = clock.iso(clock.now() - timedelta(seconds=WORKER_RUN_GRACE_SECONDS))
    running = (
        conn.execute(
            select(RUNS.c.id).where(
                RUNS.c.destination_id == destination_id,
                RUNS.c.status == RunStatus.RUNNING,
                RUNS.c.started_at <= grown,
            )
        )
        .scalars()
        .all()
    )
    dead = [run_id for run_id in running if not worker_of_run_alive(conn, run_id)]
    return close_abandoned_runs(conn, destination_id, dead) if dead else 0
