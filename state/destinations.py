"""Destinations as stored: their settings as JSON text; create, update, switch and remove.

The store knows no destination kind: the console parses the settings text through the kinds'
registry (`console.engine.destinations`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, delete, select, update

from console.core import clock
from state.db import conflict_insert
from state.models import (
    AlertState,
    AudienceMember,
    Cursor,
    DailyStat,
    DailyStreamStat,
    Destination,
    DestinationStamp,
    ImportJob,
    ImportJobFile,
    OutboxRow,
    SyncRun,
    inserted_id,
    table_of,
)

TABLE = table_of(Destination)
STAMPS = table_of(DestinationStamp)


@dataclass(frozen=True)
class StoredDestination:
    id: int
    name: str
    kind: str
    enabled: bool
    paused: bool
    settings_json: str
    healthy: bool
    health_note: str | None
    last_run_at: str | None
    last_result: str | None


def _record(row: Row[Any]) -> StoredDestination:
    m = row._mapping
    return StoredDestination(
        id=m["id"],
        name=m["name"],
        kind=m["kind"],
        enabled=bool(m["enabled"]),
        paused=bool(m["paused"]),
        settings_json=m["settings"],
        healthy=bool(m["healthy"]),
        health_note=m["health_note"],
        last_run_at=m["last_run_at"],
        last_result=m["last_result"],
    )


def destination_names(conn: Connection) -> dict[int, str]:
    """Destination id -> name, for pages that show rows of several destinations."""
    return dict(conn.execute(select(TABLE.c.id, TABLE.c.name)).all())


def list_stored(conn: Connection) -> list[StoredDestination]:
    return [_record(row) for row in conn.execute(select(TABLE).order_by(TABLE.c.name))]


def get_stored(conn: Connection, name_or_id: str | int) -> StoredDestination | None:
    column = TABLE.c.id if isinstance(name_or_id, int) else TABLE.c.name
    row = conn.execute(select(TABLE).where(column == name_or_id)).first()
    return _record(row) if row else None


def store_destination(
    conn: Connection,
    name: str,
    kind: str,
    settings_json: str,
    *,
    enabled: bool = True,
    rescan: Callable[[str], Sequence[str]] = lambda old_json: (),
    by: str | None = None,
) -> tuple[int, bool]:
    """Create or update by name. Returns (id, created). A kind never changes under a name.

    `rescan(old settings JSON)` names the source streams whose cursors start again from the
    beginning, because the new settings let through rows the old ones held back. `by` (the
    operator, `user@host`) is recorded as who changed it last."""
    now = clock.now_iso()
    existing = conn.execute(
        select(TABLE.c.id, TABLE.c.kind, TABLE.c.settings, TABLE.c.enabled).where(
            TABLE.c.name == name
        )
    ).first()
    if existing is None:
        result = conn.execute(
            TABLE.insert().values(
                name=name,
                kind=kind,
                enabled=enabled,
                paused=False,
                settings=settings_json,
                created_at=now,
                updated_at=now,
            )
        )
        destination_id = inserted_id(result)
        _stamp(conn, destination_id, by, now if enabled else None)
        return destination_id, True
    if existing.kind != kind:
        raise ValueError(
            f"destination {name!r} is a {existing.kind} destination; "
            f"remove it before adding a {kind} one under that name"
        )
    streams = list(rescan(existing.settings))
    if streams:
        cursors = table_of(Cursor)
        conn.execute(
            delete(cursors).where(
                cursors.c.destination_id == existing.id, cursors.c.stream.in_(streams)
            )
        )
    conn.execute(
        update(TABLE)
        .where(TABLE.c.id == existing.id)
        .values(settings=settings_json, enabled=enabled, updated_at=now)
    )
    _stamp_switch(conn, int(existing.id), by, bool(existing.enabled), enabled, now)
    return int(existing.id), False


def set_flags(
    conn: Connection,
    destination_id: int,
    *,
    enabled: bool | None = None,
    paused: bool | None = None,
    by: str | None = None,
) -> None:
    now = clock.now_iso()
    values: dict[str, object] = {"updated_at": now}
    was = conn.execute(select(TABLE.c.enabled).where(TABLE.c.id == destination_id)).scalar()
    if enabled is not None:
        values["enabled"] = enabled
    if paused is not None:
        values["paused"] = paused
    if enabled or paused is False:
        # An operator switching a destination back on wants it tried again.
        values.update(healthy=True, health_note=None, consecutive_failures=0)
    conn.execute(update(TABLE).where(TABLE.c.id == destination_id).values(**values))
    if was is not None:
        now_enabled = bool(was) if enabled is None else enabled
        _stamp_switch(conn, destination_id, by, bool(was), now_enabled, now)


_KEEP = object()


def _stamp_switch(
    conn: Connection, destination_id: int, by: str | None, was: bool, enabled: bool, now: str
) -> None:
    """Record who changed it; `enabled_since` starts when it is switched on, ends when off."""
    if enabled and not was:
        _stamp(conn, destination_id, by, now)
    elif not enabled:
        _stamp(conn, destination_id, by, None)
    else:
        _stamp(conn, destination_id, by, _KEEP)


def _stamp(conn: Connection, destination_id: int, by: str | None, enabled_since: object) -> None:
    """Upsert the stamp; `by` None (a change not made by an operator) keeps who it was."""
    values: dict[str, object] = {} if by is None else {"changed_by": by}
    if enabled_since is not _KEEP:
        values["enabled_since"] = enabled_since
    stmt = conflict_insert(conn, STAMPS).values(destination_id=destination_id, **values)
    if values:
        conn.execute(stmt.on_conflict_do_update(index_elements=["destination_id"], set_=values))
    else:
        conn.execute(stmt.on_conflict_do_nothing(index_elements=["destination_id"]))


def remove_destination(conn: Connection, destination_id: int) -> None:
    """Remove a destination and everything recorded for it."""
    for model in (
        DestinationStamp,
        OutboxRow,
        DailyStat,
        DailyStreamStat,
        SyncRun,
        Cursor,
        AudienceMember,
        ImportJobFile,
        ImportJob,
        AlertState,
    ):
        table = table_of(model)
        conn.execute(delete(table).where(table.c.destination_id == destination_id))
    conn.execute(delete(TABLE).where(TABLE.c.id == destination_id))
