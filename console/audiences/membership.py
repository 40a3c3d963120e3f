"""A destination's audience membership: who entered, changed or left since it last looked.

`audience_members` holds, per destination and contact, what the destination was last told: the
hash of the fields it was sent (`content_hash`) and whether the contact is a member. A delta
streams contacts in `seq` order, tests each with the audience rule and compares with those rows:

* entered: matches now, and had no row or a row with `member = false`;
* changed: matches now, was a member, and the hash of what would be sent differs;
* left: does not match now, and was a member.

Everything is read and written in chunks of at most `limit` contacts, so memory stays flat
whatever the audience's size. Callers write the chunk's outbox rows, `state.members.record_members`
and their cursor in one transaction, so a crash either records a chunk completely or not at all.
The rows are read and written by `state.members`; this module works out the delta.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from state.db import Connection
from state.members import contacts_after, load_members

CHUNK = 5000


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
    rows = contacts_after(conn, columns, after_seq, limit)
    if not rows:
        return None
    known = load_members(conn, destination_id, [r.id for r in rows])
    delta = DeltaChunk(last_seq=rows[-1].seq)
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
