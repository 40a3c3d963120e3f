"""A destination's audience membership as stored (`audience_members`).

Per destination and contact, a row holds the hash of the fields last sent and whether the
contact is a member. The delta itself (who entered, changed or left) is worked out by
`console.audiences.membership`; this module reads and writes the rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, func, select

from state.db import IN_CHUNK, conflict_insert
from state.models import AudienceMember, Contact, table_of

MEMBERS = table_of(AudienceMember)
CONTACTS = table_of(Contact)
# SQLite's historical limit on bound parameters is 999; stay under it in IN lists.

_KNOWN = select(MEMBERS.c.contact_id, MEMBERS.c.content_hash, MEMBERS.c.member).where(
    MEMBERS.c.destination_id == bindparam("destination_id"),
    MEMBERS.c.contact_id.in_(bindparam("ids", expanding=True)),
)


def members_after(
    conn: Connection, destination_id: int, after_id: int, limit: int
) -> list[dict[str, Any]]:
    """The next `limit` contacts (by id, past `after_id`) the destination counts as members,
    with `id`, `email` and `created_at` (to tell them they left an audience)."""
    rows = conn.execute(
        select(CONTACTS.c.id, CONTACTS.c.email, CONTACTS.c.created_at)
        .join(MEMBERS, MEMBERS.c.contact_id == CONTACTS.c.id)
        .where(
            MEMBERS.c.destination_id == destination_id,
            MEMBERS.c.member.is_(True),
            CONTACTS.c.id > after_id,
        )
        .order_by(CONTACTS.c.id)
        .limit(limit)
    ).all()
    return [{"id": r.id, "email": r.email, "created_at": r.created_at} for r in rows]


def load_members(
    conn: Connection, destination_id: int, contact_ids: Sequence[int]
) -> dict[int, tuple[str, bool]]:
    """contact_id -> (content_hash, member) for the given contacts that have a row."""
    found: dict[int, tuple[str, bool]] = {}
    for start in range(0, len(contact_ids), IN_CHUNK):
        chunk = list(contact_ids[start : start + IN_CHUNK])
        for contact_id, content_hash, member in conn.execute(
            _KNOWN, {"destination_id": destination_id, "ids": chunk}
        ):
            found[contact_id] = (content_hash, bool(member))
    return found


def record_members(
    conn: Connection, destination_id: int, rows: Iterable[tuple[int, str, bool]]
) -> int:
    """Insert or update (contact_id, content_hash, member) rows; returns how many."""
    values = [
        {"destination_id": destination_id, "contact_id": c, "content_hash": h, "member": m}
        for c, h, m in rows
    ]
    if values:
        stmt = conflict_insert(conn, MEMBERS)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["destination_id", "contact_id"],
                set_={"content_hash": stmt.excluded.content_hash, "member": stmt.excluded.member},
            ),
            values,
        )
    return len(values)


def forget_members(conn: Connection, destination_id: int) -> None:
    """Drop every membership row of a destination (its export moved to another audience)."""
    conn.execute(MEMBERS.delete().where(MEMBERS.c.destination_id == destination_id))


def member_count(conn: Connection, destination_id: int) -> int:
    """How many contacts the destination currently counts as members."""
    return int(
        conn.execute(
            select(func.count()).where(
                MEMBERS.c.destination_id == destination_id, MEMBERS.c.member.is_(True)
            )
        ).scalar_one()
    )
