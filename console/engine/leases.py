"""How a run gets the right to work a destination: alone, through the destination's lease
(state/runs.py), or together with other workers, through their locks (state/sharing.py).
"""

from __future__ import annotations

import asyncio

from state.db import Store
from state.runs import (
    LEASE_SECONDS,
    acquire_lease,
    close_abandoned_runs,
    live_lease_holder,
    renew_lease,
)
from state.sharing import WorkerLocks

JOIN_PATIENCE_SECONDS = 5.0
"""How long a worker retries joining while runs take and give back the lease around it."""


async def take_lease(
    store: Store, destination_id: int, owner: str, lease_wait_seconds: float
) -> str | None:
    """Take the destination's lease, waiting up to `lease_wait_seconds` for its holder:
    None once taken (runs a dead process left running are closed then), else the holder."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + lease_wait_seconds

    def take() -> str | None:
        with store.write() as conn:
            holder = acquire_lease(conn, destination_id, owner)
            if holder is None:
                close_abandoned_runs(conn, destination_id)
            return holder

    while True:
        holder = await asyncio.to_thread(take)
        if holder is None or loop.time() >= deadline:
            return holder
        await asyncio.sleep(0.5)


async def keep_lease(store: Store, destination_id: int, owner: str) -> None:
    """Renew the lease while a long plan step or retry wait runs, so another engine never
    takes over a destination this one is still working."""
    while True:
        await asyncio.sleep(LEASE_SECONDS / 4)

        def renew() -> None:
            with store.write() as conn:
                renew_lease(conn, destination_id, owner)

        await asyncio.to_thread(renew)


async def join_workers(
    store: Store, destination_id: int, lease_wait_seconds: float
) -> tuple[WorkerLocks | None, str | None]:
    """Join the workers of a destination: (its locks, None), or (None, the holder) when a run
    that works it alone holds its lease past the lease wait."""
    loop = asyncio.get_running_loop()
    started = loop.time()

    def join() -> tuple[WorkerLocks | None, str | None, bool]:
        """(locks, None, _) joined; (None, holder, False) a run holds the lease;
        (None, _, True) a run is taking or giving back the lease this very moment."""
        locks = WorkerLocks(store, destination_id)
        try:
            if not locks.join():
                locks.release()
                return None, "a run taking its lease", True
            with store.read() as conn:
                holder = live_lease_holder(conn, destination_id)
        except BaseException:
            locks.release()
            raise
        if holder is not None:
            locks.release()
            return None, holder, False
        return locks, None, False

    while True:
        locks, holder, passing = await asyncio.to_thread(join)
        patience = JOIN_PATIENCE_SECONDS if passing else lease_wait_seconds
        if holder is None or loop.time() - started >= patience:
            return locks, holder
        await asyncio.sleep(0.2)
