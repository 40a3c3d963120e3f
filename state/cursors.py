"""Per-destination read positions on the store's streams (contacts, events, a ReSci backfill),
each with an optional note for streams that need more than a number.

One table, one API: `get_cursor` / `set_cursor` for the position, `get_note` for a typed note.
A note is a pydantic model, parsed and serialised here (JSON text in `cursors.note`), so no
caller handles the JSON. `get_cursor_dict` / `set_cursor_dict` hand the same note over as a
plain dictionary, for a caller written before notes were typed.
"""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import Connection, select

from state.db import conflict_insert
from state.models import Cursor

CURSORS = Cursor.__table__


class CursorNote(BaseModel):
    """Base of every note; keys it does not declare are kept, so a note written by a newer
    release survives being read and written back by this one."""

    model_config = ConfigDict(extra="allow")


class BackfillNote(CursorNote):
    """The `resci-backfill` cursor (position: the `import_jobs` id of the current backfill):
    what that job's file holds and how far it got."""

    job: int
    audience: str
    fields: list[tuple[str, str]] = []
    """(contact field, ReSci field) pairs, in mapping order."""
    fingerprint: str
    rule: str
    built: bool = False
    snapshot_seq: int | None = None
    """The contact `seq` the file was built up to."""
    rows: int | None = None
    completed: bool | None = None


class MembersNote(CursorNote):
    """The `resci-members` cursor (position: the contact `seq` the delta has read to): which
    audience, rule and mapping `audience_members` reflects."""

    audience: str
    rule: str | None = None
    fingerprint: str | None = None


N = TypeVar("N", bound=CursorNote)


def _read(conn: Connection, destination_id: int, stream: str) -> tuple[int, str | None] | None:
    row = conn.execute(
        select(CURSORS.c.position, CURSORS.c.note).where(
            CURSORS.c.destination_id == destination_id, CURSORS.c.stream == stream
        )
    ).first()
    return None if row is None else (int(row.position or 0), row.note)


def get_cursor(conn: Connection, destination_id: int, stream: str) -> int:
    """The position on a stream (0 before the first read)."""
    value = conn.execute(
        select(CURSORS.c.position).where(
            CURSORS.c.destination_id == destination_id, CURSORS.c.stream == stream
        )
    ).scalar()
    return int(value or 0)


def set_cursor(
    conn: Connection,
    destination_id: int,
    stream: str,
    position: int,
    note: CursorNote | None = None,
) -> None:
    """Move the cursor; with `note`, replace its note too (without, the note is kept)."""
    if note is None:
        _upsert(conn, destination_id, stream, position, None)
        return
    _upsert(
        conn,
        destination_id,
        stream,
        position,
        orjson.dumps(note.model_dump(mode="json", exclude_unset=True)).decode(),
    )


def get_note(
    conn: Connection, destination_id: int, stream: str, model: type[N]
) -> tuple[int, N | None]:
    """The position and the note as `model`; None when there is no note or it does not fit
    the model (a note from an older release: callers start that stream over)."""
    found = _read(conn, destination_id, stream)
    if found is None:
        return 0, None
    position, text = found
    if not text:
        return position, None
    try:
        return position, model.model_validate_json(text)
    except ValidationError:
        return position, None


def get_cursor_dict(
    conn: Connection, destination_id: int, stream: str
) -> tuple[int, dict[str, Any]]:
    """The position and the note as a plain dictionary ({} for none or an unreadable one)."""
    found = _read(conn, destination_id, stream)
    if found is None:
        return 0, {}
    position, text = found
    note: dict[str, Any] = {}
    if text:
        try:
            loaded = orjson.loads(text)
            note = loaded if isinstance(loaded, dict) else {}
        except orjson.JSONDecodeError:
            note = {}
    return position, note


def set_cursor_dict(
    conn: Connection, destination_id: int, stream: str, position: int, note: dict[str, Any]
) -> None:
    """`set_cursor` with the note given as a plain dictionary."""
    _upsert(conn, destination_id, stream, position, orjson.dumps(note).decode())


def _upsert(
    conn: Connection, destination_id: int, stream: str, position: int, note: str | None
) -> None:
    values: dict[str, object] = {"position": position}
    if note is not None:
        values["note"] = note
    stmt = conflict_insert(conn, CURSORS).values(
        destination_id=destination_id, stream=stream, **values
    )
    conn.execute(
        stmt.on_conflict_do_update(index_elements=["destination_id", "stream"], set_=values)
    )
