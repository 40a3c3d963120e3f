"""Which failed state rows (identify, user update, import row) a newer version of the same
contact, already delivered to the same destination, has made stale.

A state row carries the contact's whole state and the last one to arrive wins, so re-sending an
older one after a newer one was delivered would leave the stale state at the destination. The
engine's retry asks this before it re-queues; the policy (refuse, and say why) is the engine's.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, func, select

from console.core.vocab import STATE_KINDS, OutboxStatus
from state.db import IN_CHUNK
from state.models import OutboxRow, table_of

OUTBOX = table_of(OutboxRow)


def superseded_by_delivered(conn: Connection, row_ids: Sequence[int]) -> dict[int, str]:
    """Failed state rows among `row_ids` that a later version of the same contact, delivered to
    the same destination, supersedes -> when that contact's state was last delivered there
    (`updated_at`). "Later" is a higher id: versions are queued in the order the contact
    changed. Rows with no such version are absent."""
    failed: list[tuple[int, int, str]] = []
    ids = list(row_ids)
    for start in range(0, len(ids), IN_CHUNK):
        failed.extend(
            (row_id, destination_id, email)
            for row_id, destination_id, email in conn.execute(
                select(OUTBOX.c.id, OUTBOX.c.destination_id, OUTBOX.c.email).where(
                    OUTBOX.c.id.in_(ids[start : start + IN_CHUNK]),
                    OUTBOX.c.status == OutboxStatus.FAILED,
                    OUTBOX.c.kind.in_(sorted(STATE_KINDS)),
                    OUTBOX.c.email.is_not(None),
                )
            )
        )
    if not failed:
        return {}
    # The newest delivered state row per (destination, email): one row per contact is enough,
    # since any failed row older than it is superseded.
    newest: dict[tuple[int, str], tuple[int, str]] = {}
    emails = sorted({email for _, _, email in failed})
    for start in range(0, len(emails), IN_CHUNK):
        found = conn.execute(
            select(
                OUTBOX.c.destination_id,
                OUTBOX.c.email,
                func.max(OUTBOX.c.id),
                func.max(OUTBOX.c.updated_at),
            )
            .where(
                OUTBOX.c.status == OutboxStatus.DELIVERED,
                OUTBOX.c.kind.in_(sorted(STATE_KINDS)),
                OUTBOX.c.email.in_(emails[start : start + IN_CHUNK]),
            )
            .group_by(OUTBOX.c.destination_id, OUTBOX.c.email)
        )
        for destination_id, email, newest_id, delivered_at in found:
            newest[(destination_id, email)] = (int(newest_id), str(delivered_at))
    stale: dict[int, str] = {}
    for row_id, destination_id, email in failed:
        delivered = newest.get((destination_id, email))
        if delivered is not None and delivered[0] > row_id:
            stale[row_id] = delivered[1]
    return stale
