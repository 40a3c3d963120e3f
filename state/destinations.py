"""Destinations: read them with their validated settings; create, update, switch and remove."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, select, update

from console.core import clock
from state.db import Store
from state.models import (
    AudienceMember,
    Cursor,
    DailyStat,
    Destination,
    ImportJob,
    OutboxRow,
    SyncRun,
)
from state.settings import DestinationSettings, settings_from_json, settings_to_json

TABLE = Destination.__table__


@dataclass(frozen=True)
class DestinationRecord:
    id: int
    name: str
    kind: str
    enabled: bool
    paused: bool
    settings: DestinationSettings
    healthy: bool
    health_note: str | None
    last_run_at: str | None
    last_result: str | None

    @property
    def schedule_minutes(self) -> int:
        return self.settings.schedule_minutes


def _record(row: object) -> DestinationRecord:
    m = row._mapping  # type: ignore[attr-defined]
    return DestinationRecord(
        id=m["id"],
        name=m["name"],
        kind=m["kind"],
        enabled=bool(m["enabled"]),
        paused=bool(m["paused"]),
        settings=settings_from_json(m["kind"], m["settings"]),
        healthy=bool(m["healthy"]),
        health_note=m["health_note"],
        last_run_at=m["last_run_at"],
        last_result=m["last_result"],
    )


def list_destinations(conn: Connection) -> list[DestinationRecord]:
    return [_record(row) for row in conn.execute(select(TABLE).order_by(TABLE.c.name))]


def get_destination(conn: Connection, name_or_id: str | int) -> DestinationRecord | None:
    column = TABLE.c.id if isinstance(name_or_id, int) else TABLE.c.name
    row = conn.execute(select(TABLE).where(column == name_or_id)).first()
    return _record(row) if row else None


def save_destination(
    conn: Connection, name: str, settings: DestinationSettings, *, enabled: bool = True
) -> tuple[int, bool]:
    """Create or update by name. Returns (id, created). A kind never changes under a name."""
    now = clock.now_iso()
    existing = conn.execute(
        select(TABLE.c.id, TABLE.c.kind, TABLE.c.settings).where(TABLE.c.name == name)
    ).first()
    text = settings_to_json(settings)
    if existing is None:
        result = conn.execute(
            TABLE.insert().values(
                name=name,
                kind=settings.kind,
                enabled=enabled,
                paused=False,
                settings=text,
                created_at=now,
                updated_at=now,
            )
        )
        return int(result.inserted_primary_key[0]), True
    if existing.kind != settings.kind:
        raise ValueError(
            f"destination {name!r} is a {existing.kind} destination; "
            f"remove it before adding a {settings.kind} one under that name"
        )
    if settings.kind == "segment" and _grow_rules_changed(existing.settings, settings):
        # Contacts a narrower filter or the suppression list held back are reconsidered; the
        # stable messageIds keep what was already queued from being queued twice.
        cursors = Cursor.__table__
        conn.execute(
            delete(cursors).where(
                cursors.c.destination_id == existing.id, cursors.c.stream == "contacts"
            )
        )
    conn.execute(
        update(TABLE)
        .where(TABLE.c.id == existing.id)
        .values(settings=text, enabled=enabled, updated_at=now)
    )
    return int(existing.id), False


def _grow_rules_changed(old_text: str, new: DestinationSettings) -> bool:
    old = settings_from_json("segment", old_text)
    fields = ("grow", "filters", "suppression", "group_id")
    return any(getattr(old, f) != getattr(new, f) for f in fields)


def set_flags(
    conn: Connection,
    destination_id: int,
    *,
    enabled: bool | None = None,
    paused: bool | None = None,
) -> None:
    values: dict[str, object] = {"updated_at": clock.now_iso()}
    if enabled is not None:
        values["enabled"] = enabled
    if paused is not None:
        values["paused"] = paused
    if enabled or paused is False:
        # An operator switching a destination back on wants it tried again.
        values.update(healthy=True, health_note=None, consecutive_failures=0)
    conn.execute(update(TABLE).where(TABLE.c.id == destination_id).values(**values))


def remove_destination(conn: Connection, destination_id: int) -> None:
    """Remove a destination and everything recorded for it."""
    for model in (OutboxRow, DailyStat, SyncRun, Cursor, AudienceMember, ImportJob):
        table = model.__table__
        conn.execute(delete(table).where(table.c.destination_id == destination_id))
    conn.execute(delete(TABLE).where(TABLE.c.id == destination_id))


def load_destinations(store: Store) -> list[DestinationRecord]:
    with store.read() as conn:
        return list_destinations(conn)
