"""The audience delta after the backfill: users who entered, changed or left since the last
run, as `user update` rows, read chunk by chunk through the contact scan every planner shares
(`StoreSession.contacts_after`, Segment's planner reads the same), each chunk written with its
membership rows and cursor in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator

from console.audiences.membership import CHUNK, DeltaChunk, delta_of
from console.destinations.context import RunContext, StoreSession
from console.destinations.resci.backfill import Export, Projection
from console.destinations.resci.job import MembersNote
from console.destinations.resci.planner import plan_delta

MEMBERS_STREAM = "resci-members"
"""Cursor whose position is the contact `seq` the delta has read to and whose note
(`MembersNote`) names what the membership rows reflect."""


def plan_audience(ctx: RunContext, export: Export) -> None:
    """Queue user updates for users who entered, changed or left since the last run, chunk by
    chunk, each chunk with its membership rows and cursor in one transaction. The chunks come
    from the contact scan every planner shares."""
    projection = Projection(export)
    with ctx.write() as session:
        position, wanted, moved = delta_start(session, export)
        if moved:
            session.set_cursor(MEMBERS_STREAM, position, wanted)
    while True:
        with ctx.write() as session:
            position, _ = session.note(MEMBERS_STREAM, MembersNote)
            rows = session.contacts_after(position, CHUNK, export.columns)
            if not rows:
                return
            known = session.known_members([r["id"] for r in rows])
            delta = delta_of(rows, known, projection.matches, projection.digest)
            session.queue(
                plan_delta(ctx.destination_id, export, delta, run_id=ctx.run_id, today=ctx.today())
            )
            session.record_members(delta.member_rows())
            ctx.counts.added += len(delta.entered)
            ctx.counts.changed += len(delta.changed)
            ctx.counts.removed += len(delta.left)
            session.set_cursor(MEMBERS_STREAM, delta.last_seq, wanted)


def delta_start(session: StoreSession, export: Export) -> tuple[int, MembersNote, bool]:
    """Where the delta reads from, the note it reads under, and whether the stored cursor
    must be set to them first (the note describes another audience, rule or mapping)."""
    position, note = session.note(MEMBERS_STREAM, MembersNote)
    wanted = MembersNote(
        audience=export.audience, rule=export.rule.text, fingerprint=export.fingerprint
    )
    if note is not None and _reflects(note) == _reflects(wanted):
        return position, wanted, False
    # A new rule (or a note from before): every contact is looked at again.
    if note is None or note.rule != export.rule.text:
        position = 0
    return position, wanted, True


def _reflects(note: MembersNote) -> tuple[str, str | None, str | None]:
    return note.audience, note.rule, note.fingerprint


def preview_delta(
    session: StoreSession, export: Export, after_seq: int = 0, limit: int = CHUNK
) -> Iterator[DeltaChunk]:
    """Every chunk of the delta from `after_seq` on, read-only: who the next run would tell
    (a preview; `plan_audience` writes as it goes instead)."""
    projection = Projection(export)
    position = after_seq
    while rows := session.contacts_after(position, limit, export.columns):
        known = session.known_members([r["id"] for r in rows])
        delta = delta_of(rows, known, projection.matches, projection.digest)
        yield delta
        position = delta.last_seq
