"""Per-destination read positions on the contact and event streams."""

from __future__ import annotations

from sqlalchemy import Connection, select

from state.db import conflict_insert
from state.models import Cursor

CURSORS = Cursor.__table__


def get_cursor(conn: Connection, destination_id: int, stream: str) -> int:
    value = conn.execute(
        select(CURSORS.c.position).where(
            CURSORS.c.destination_id == destination_id, CURSORS.c.stream == stream
        )
    ).scalar()
    return int(value or 0)


def set_cursor(conn: Connection, destination_id: int, stream: str, position: int) -> None:
    stmt = conflict_insert(conn, CURSORS).values(
        destination_id=destination_id, stream=stream, position=position
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["destination_id", "stream"], set_={"position": position}
        )
    )
