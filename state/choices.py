"""Choices the forms offer: saved authorizations, audiences and the store's event names."""

from __future__ import annotations

from sqlalchemy import Connection, select

from state.audiences import list_audiences
from state.models import Authorization, Event, table_of

EVENTS = table_of(Event)
AUTHORIZATIONS = table_of(Authorization)


def authorization_labels(conn: Connection) -> list[str]:
    """The saved authorizations, by label (the destination form's picker)."""
    return list(conn.scalars(select(AUTHORIZATIONS.c.label).order_by(AUTHORIZATIONS.c.label)))


def audience_names(conn: Connection) -> list[str]:
    """Names of the store's audiences, sorted; what a ReSci export may pick from."""
    return [audience.name for audience in list_audiences(conn)]


def event_names(conn: Connection, limit: int = 200) -> list[str]:
    """Distinct event names in the store (read through the `event` index), for suggestions."""
    return list(
        conn.execute(select(EVENTS.c.event).distinct().order_by(EVENTS.c.event).limit(limit))
        .scalars()
        .all()
    )
