"""Per-destination read positions on the store's streams (contacts, events, a ReSci backfill),
each with an optional note for streams that need more than a number.

One table, one API: `get_cursor` / `set_cursor` for the position, `get_note` for a typed note.
A note is any pydantic model (the kind that writes it declares it: the store knows no kinds),
parsed and serialised here (JSON text in `cursors.note`), so no caller handles the JSON. Only
the keys a note set are stored, so a note model may grow optional fields without a migration;
models that keep keys they do not declare (`extra="allow"`) survive a newer release's note.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, delete, select

from state.db import conflict_insert
from state.models import Cursor, table_of

CURSORS = table_of(Cursor)


N = TypeVar("N", bound=BaseModel)


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
    note: BaseModel | None = None,
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


def forget_cursors(conn: Connection, destination_id: int, streams: Sequence[str]) -> None:
    """Start these streams of a destination over: the next plan reads them from the first
    row (stable messageIds keep what was queued before from being queued twice)."""
    conn.execute(
        delete(CURSORS).where(
            CURSORS.c.destination_id == destination_id, CURSORS.c.stream.in_(list(streams))
        )
    )
