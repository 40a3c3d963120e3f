"""A destination's audience membership: who entered, changed or left since it last looked.

`audience_members` holds, per destination and contact, what the destination was last told: the
hash of the fields it was sent (`content_hash`) and whether the contact is a member. A delta
streams contacts in `seq` order, tests each with the audience rule and compares with those rows:

* entered: matches now, and had no row or a row with `member = false`;
* changed: matches now, was a member, and the hash of what would be sent differs;
* left: does not match now, and was a member.

Everything is read and written in chunks of at most `limit` contacts, so memory stays flat
whatever the audience's size. Callers write the chunk's outbox rows, `record_members` and their
cursor in one transaction, so a crash either records a chunk completely or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, func, select

from state.db import conflict_insert
from state.models import AudienceMember, Contact

MEMBERS = AudienceMember.__table__
CONTACTS = Contact.__table__
CHUNK = 5000
# SQLite's historical limit on bound parameters is 999; stay under it in IN lists.
_IN_CHUNK = 900

_KNOWN = select(MEMBERS.c.contact_id, MEMBERS.c.content_hash, MEMBERS.c.member).where(
    MEMBERS.c.destination_id == bindparam("destination_id"),
    MEMBERS.c.contact_id.in_(bindparam("ids", expanding=True)),
)


@dataclass
class DeltaChunk:
    """One chunk of a delta. Rows are contact rows with the columns the caller asked for
    (plus `id` and `seq` first); `hashes` maps every entered or changed contact id to the hash
    of what is sent for it now."""

    entered: list[Any] = field(default_factory=list)
    changed: list[Any] = field(default_factory=list)
    left: list[Any] = field(default_factory=list)
    hashes: dict[int, str] = field(default_factory=dict)
    left_hashes: dict[int, str] = field(default_factory=dict)
    """The hash last sent to each contact who left (kept on its `member = false` row)."""
    last_seq: int = 0
    scanned: int = 0

    def member_rows(self) -> list[tuple[int, str, bool]]:
        """(contact_id, content_hash, member) to record once the chunk's updates are queued.
        A contact who left keeps the hash last sent, with `member = false`."""
        rows = [(r.id, self.hashes[r.id], True) for r in self.entered]
        rows += [(r.id, self.hashes[r.id], True) for r in self.changed]
        rows += [(r.id, self.left_hashes.get(r.id, ""), False) for r in self.left]
        return rows


def contact_columns(names: Iterable[str]) -> list[str]:
    """`id`, `seq`, then the named contact columns once each, in a stable order."""
    wanted = ["id", "seq"]
    for name in names:
        if name not in wanted:
            wanted.append(name)
    return wanted


def load_members(
    conn: Connection, destination_id: int, contact_ids: Sequence[int]
) -> dict[int, tuple[str, bool]]:
    """contact_id -> (content_hash, member) for the given contacts that have a row."""
    found: dict[int, tuple[str, bool]] = {}
    for start in range(0, len(contact_ids), _IN_CHUNK):
        chunk = list(contact_ids[start : start + _IN_CHUNK])
        for contact_id, content_hash, member in conn.execute(
            _KNOWN, {"destination_id": destination_id, "ids": chunk}
        ):
            found[contact_id] = (content_hash, bool(member))
    return found


def scan_chunk(
    conn: Connection,
    destination_id: int,
    matches: Callable[[Sequence[object]], bool],
    columns: Sequence[str],
    hash_of: Callable[[Sequence[object]], str],
    after_seq: int,
    limit: int = CHUNK,
) -> DeltaChunk | None:
    """The delta for the next `limit` contacts with `seq > after_seq`, or None when there
    are none. `columns` must start with `id`, `seq` (see `contact_columns`); `matches` and
    `hash_of` receive rows with those columns."""
    if list(columns[:2]) != ["id", "seq"]:
        raise ValueError("columns must start with id, seq")
    rows = conn.execute(
        select(*(CONTACTS.c[name] for name in columns))
        .where(CONTACTS.c.seq > after_seq)
        .order_by(CONTACTS.c.seq)
        .limit(limit)
    ).all()
    if not rows:
        return None
    known = load_members(conn, destination_id, [r.id for r in rows])
    delta = DeltaChunk(last_seq=rows[-1].seq, scanned=len(rows))
    for row in rows:
        previous = known.get(row.id)
        was_member = previous is not None and previous[1]
        if matches(row):
            digest = hash_of(row)
            if not was_member:
                delta.entered.append(row)
                delta.hashes[row.id] = digest
            elif previous is not None and previous[0] != digest:
                delta.changed.append(row)
                delta.hashes[row.id] = digest
        elif was_member:
            delta.left.append(row)
            delta.left_hashes[row.id] = previous[0] if previous else ""
    return delta


def iter_delta(
    conn: Connection,
    destination_id: int,
    matches: Callable[[Sequence[object]], bool],
    columns: Sequence[str],
    hash_of: Callable[[Sequence[object]], str],
    after_seq: int = 0,
    limit: int = CHUNK,
) -> Iterator[DeltaChunk]:
    """Every chunk of the delta from `after_seq` on, read-only (what the next run would send:
    a preview for the console). Writers use `scan_chunk` chunk by chunk instead."""
    position = after_seq
    while True:
        chunk = scan_chunk(conn, destination_id, matches, columns, hash_of, position, limit)
        if chunk is None:
            return
        yield chunk
        position = chunk.last_seq


def _upsert(conn: Connection):  # type: ignore[no-untyped-def]
    stmt = conflict_insert(conn, MEMBERS)
    return stmt.on_conflict_do_update(
        index_elements=["destination_id", "contact_id"],
        set_={"content_hash": stmt.excluded.content_hash, "member": stmt.excluded.member},
    )


def record_members(
    conn: Connection, destination_id: int, rows: Iterable[tuple[int, str, bool]]
) -> int:
    """Insert or update (contact_id, content_hash, member) rows; returns how many."""
    values = [
        {"destination_id": destination_id, "contact_id": c, "content_hash": h, "member": m}
        for c, h, m in rows
    ]
    if values:
        conn.execute(_upsert(conn), values)
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
