"""A destination's audience membership: who entered, changed or left since it last looked.

`audience_members` holds, per destination and contact, what the destination was last told: the
hash of the fields it was sent (`content_hash`) and whether the contact is a member. A delta
takes a chunk of contacts (read in `seq` order by the same chunked scan every planner reads,
`state.sources.read_chunk`), tests each with the audience rule and compares with those rows:

* entered: matches now, and had no row or a row with `member = false`;
* changed: matches now, was a member, and the hash of what would be sent differs;
* left: does not match now, and was a member.

Pure: the caller reads the chunk and its membership rows, and writes the chunk's outbox rows,
the membership rows (`DeltaChunk.member_rows`) and its cursor in one transaction, so a crash
either records a chunk completely or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

CHUNK = 5000

Contact = Mapping[str, Any]
"""A contact row as the scan reads it: every column by name (`id` and `seq` among them)."""


@dataclass
class DeltaChunk:
    """One chunk of a delta. `hashes` maps every entered or changed contact id to the hash of
    what is sent for it now."""

    entered: list[Contact] = field(default_factory=list)
    changed: list[Contact] = field(default_factory=list)
    left: list[Contact] = field(default_factory=list)
    hashes: dict[int, str] = field(default_factory=dict)
    left_hashes: dict[int, str] = field(default_factory=dict)
    """The hash last sent to each contact who left (kept on its `member = false` row)."""
    last_seq: int = 0

    def member_rows(self) -> list[tuple[int, str, bool]]:
        """(contact_id, content_hash, member) to record once the chunk's updates are queued.
        A contact who left keeps the hash last sent, with `member = false`."""
        rows = [(r["id"], self.hashes[r["id"]], True) for r in self.entered]
        rows += [(r["id"], self.hashes[r["id"]], True) for r in self.changed]
        rows += [(r["id"], self.left_hashes.get(r["id"], ""), False) for r in self.left]
        return rows


def delta_of(
    rows: Sequence[Contact],
    known: Mapping[int, tuple[str, bool]],
    matches: Callable[[Contact], bool],
    hash_of: Callable[[Contact], str],
) -> DeltaChunk:
    """The delta of one chunk of contacts (non-empty, in `seq` order), given `known`: contact
    id -> (content_hash, member) for those of them that have a membership row."""
    delta = DeltaChunk(last_seq=rows[-1]["seq"])
    for row in rows:
        contact_id = row["id"]
        previous = known.get(contact_id)
        was_member = previous is not None and previous[1]
        if matches(row):
            digest = hash_of(row)
            if not was_member:
                delta.entered.append(row)
                delta.hashes[contact_id] = digest
            elif previous is not None and previous[0] != digest:
                delta.changed.append(row)
                delta.hashes[contact_id] = digest
        elif was_member:
            delta.left.append(row)
            delta.left_hashes[contact_id] = previous[0] if previous else ""
    return delta
