"""Workers sharing one destination on PostgreSQL: slots, and the advisory locks that hand them out.

A destination's queued rows fall into `SLOTS` slots by a hash of the contact (its email; the
messageId for a row without one), so every row of one contact is in one slot. A worker sends a
slot's rows only while it holds that slot's lock, which keeps a contact's states in order while
several workers drain the destination at once.

The locks are PostgreSQL session advisory locks held on one dedicated connection per worker
(`WorkerLocks`): a worker killed with SIGKILL loses its connection, and PostgreSQL releases its
locks at once, so the other workers take its slots on their next round instead of after a lease
expires. Workers hold the destination's lock shared; a run that takes the destination alone
(the console, a plain `--run-once`) checks in its lease transaction that no worker holds it
(`workers_active`), and a worker checks that no such run holds the lease. One worker at a time
plans the destination (`take_planning`); the others deliver what it queues. Each worker also
holds the lock of the run it started, so a dead worker's run is told from a live one's.

SQLite has none of this: one machine, one engine at a time per destination, through the lease.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from sqlalchemy import Connection, text

if TYPE_CHECKING:  # state.db creates the slot index, so it imports this module
    from state.db import Store

SLOTS: Final = 16
"""Fixed: the slot is part of an index expression (`SLOT_INDEX`)."""

SLOT_OF_ROW: Final = f"(hashtext(coalesce(email, message_id)) & {SLOTS - 1})"
"""A row's slot, in SQL (hashtext is immutable, so it can be indexed; `& 15` keeps a negative
hash in range)."""

SLOT_INDEX_NAME: Final = "ix_outbox_slot"
SLOT_INDEX: Final = (
    f"CREATE INDEX IF NOT EXISTS {SLOT_INDEX_NAME} ON outbox "
    f"(destination_id, {SLOT_OF_ROW}, id) WHERE status = 'queued'"
)
"""Lets a worker claim one slot's queued rows in id order without walking the others'."""

# First keys of the two-key advisory locks, one per purpose ("RC" and a number): they never meet
# each other, and are unlikely to meet a lock another program takes on the same database.
_WORKERS: Final = 0x52430001
_SLOT: Final = 0x52430002
_POLL: Final = 0x52430003
_PLANNING: Final = 0x52430004
_PLAN_TRANSACTION: Final = 0x52430005
_RUN: Final = 0x52430006


def is_shared_store(store: Store) -> bool:
    """Whether workers can share destinations in this store (PostgreSQL only)."""
    return store.engine.dialect.name == "postgresql"


def lock_plan(conn: Connection, destination_id: int) -> None:
    """Hold the destination's plan step to this transaction, until it ends. One worker plans
    at a time already (`WorkerLocks.take_planning`), but a worker stopped mid-plan gives that
    lock back before its last transaction has committed; the next planner then waits for it,
    and reads the cursor it moved. SQLite's write transactions are serialised already."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_advisory_xact_lock(:kind, :key)"),
            {"kind": _PLAN_TRANSACTION, "key": destination_id},
        )


def workers_active(conn: Connection, destination_id: int) -> bool:
    """Whether workers are sharing the destination now. Called in the transaction that takes
    the destination's lease: the exclusive lock taken here is held until it commits, so a
    worker starting meanwhile cannot join before the lease is written, and then sees it."""
    if conn.dialect.name != "postgresql":
        return False
    free = conn.execute(
        text("SELECT pg_try_advisory_xact_lock(:kind, :key)"),
        {"kind": _WORKERS, "key": destination_id},
    ).scalar_one()
    return not free


def worker_of_run_alive(conn: Connection, run_id: int) -> bool:
    """Whether the worker that started a run still holds its run lock (`WorkerLocks.own_run`):
    False once the worker is gone, however it ended. The probe's lock lasts until the
    transaction ends."""
    free = conn.execute(
        text("SELECT pg_try_advisory_xact_lock(:kind, :key)"), {"kind": _RUN, "key": run_id}
    ).scalar_one()
    return not free


class WorkerLocks:
    """A worker's advisory locks on one destination, on a connection of their own (autocommit,
    so no transaction stays open while they are held). Not for use from two threads at once."""

    def __init__(self, store: Store, destination_id: int) -> None:
        self.destination_id = destination_id
        self._conn: Connection | None = store.engine.connect().execution_options(
            isolation_level="AUTOCOMMIT"
        )
        self._held: set[tuple[int, int]] = set()

    def _try(self, kind: int, key: int, *, shared: bool = False) -> bool:
        if (kind, key) in self._held:
            return True
        assert self._conn is not None, "the worker's locks were released"
        function = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
        got = bool(
            self._conn.execute(
                text(f"SELECT {function}(:kind, :key)"), {"kind": kind, "key": key}
            ).scalar_one()
        )
        if got:
            self._held.add((kind, key))
        return got

    def _give_back(self, kind: int, key: int) -> None:
        if (kind, key) not in self._held or self._conn is None:
            return
        self._conn.execute(
            text("SELECT pg_advisory_unlock(:kind, :key)"), {"kind": kind, "key": key}
        )
        self._held.discard((kind, key))

    def join(self) -> bool:
        """Join the destination's workers; False while a run that works it alone is taking its
        lease (try again, or report it busy)."""
        return self._try(_WORKERS, self.destination_id, shared=True)

    def own_run(self, run_id: int) -> None:
        """Hold the lock of the run this worker started, for as long as the worker lives, so
        that another can tell a dead worker's run from a live one (`worker_of_run_alive`)."""
        self._try(_RUN, run_id)

    def take_slot(self, slot: int) -> bool:
        """Take a slot; False when another worker holds it."""
        return self._try(_SLOT, self._slot_key(slot))

    def give_back_slot(self, slot: int) -> None:
        self._give_back(_SLOT, self._slot_key(slot))

    def take_polling(self) -> bool:
        """Become the one worker that polls the destination's import jobs, for now."""
        return self._try(_POLL, self.destination_id)

    def give_back_polling(self) -> None:
        self._give_back(_POLL, self.destination_id)

    def take_planning(self) -> bool:
        """Become the one worker that plans the destination, for now: the others deliver
        what it queues meanwhile instead of waiting for their turn to plan."""
        return self._try(_PLANNING, self.destination_id)

    def give_back_planning(self) -> None:
        self._give_back(_PLANNING, self.destination_id)

    def planning_elsewhere(self) -> bool:
        """Whether another worker is planning the destination now (more rows may come)."""
        if self.take_planning():
            self.give_back_planning()
            return False
        return True

    def free_slots(self) -> list[int]:
        """The slots no other worker holds (those this one holds included); the locks taken
        to find out are given back."""
        free = []
        for slot in range(SLOTS):
            held_before = (_SLOT, self._slot_key(slot)) in self._held
            if self.take_slot(slot):
                free.append(slot)
                if not held_before:
                    self.give_back_slot(slot)
        return free

    def release(self) -> None:
        """Give back every lock and the connection (closing it would release them too)."""
        if self._conn is None:
            return
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock_all()"))
        finally:
            self._held.clear()
            self._conn.close()
            self._conn = None

    def _slot_key(self, slot: int) -> int:
        return self.destination_id * SLOTS + slot
