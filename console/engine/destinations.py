"""Destinations as the engine, the console and the CLI see them: the stored row with its settings
parsed into the kind's typed model through the registry (the store keeps them as JSON text)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel, SecretStr

from console.destinations import registry
from console.destinations.kind import DestinationKind
from state.authorizations import get_authorization
from state.db import Connection, Store
from state.destinations import StoredDestination, get_stored, list_stored, store_destination

# Settings fields by which a kind takes its key from a saved authorization (ReSci's).
AUTHORIZATION, API_KEY = "authorization", "api_key"


@dataclass(frozen=True)
class DestinationRecord:
    id: int
    name: str
    kind: str
    enabled: bool
    paused: bool
    # The kind's settings model (`registry.kind(kind).settings_model`); typed `Any` because each
    # kind's package owns its model and callers ask the declaration what the settings can do.
    settings: Any
    healthy: bool
    health_note: str | None
    last_run_at: str | None
    last_result: str | None

    @property
    def schedule_minutes(self) -> int:
        return int(self.settings.schedule_minutes)

    @property
    def declaration(self) -> DestinationKind:
        return registry.kind(self.kind)


def typed(stored: StoredDestination) -> DestinationRecord:
    """The stored destination with its settings parsed by its kind."""
    return DestinationRecord(
        id=stored.id,
        name=stored.name,
        kind=stored.kind,
        enabled=stored.enabled,
        paused=stored.paused,
        settings=registry.parse_settings(stored.kind, stored.settings_json),
        healthy=stored.healthy,
        health_note=stored.health_note,
        last_run_at=stored.last_run_at,
        last_result=stored.last_result,
    )


def list_destinations(conn: Connection) -> list[DestinationRecord]:
    return [with_authorization(conn, typed(stored)) for stored in list_stored(conn)]


def get_destination(conn: Connection, name_or_id: str | int) -> DestinationRecord | None:
    stored = get_stored(conn, name_or_id)
    return with_authorization(conn, typed(stored)) if stored else None


def with_authorization(conn: Connection, record: DestinationRecord) -> DestinationRecord:
    """A destination that names an authorization carries that authorization's key as it is
    now (changing it there changes it for every destination naming it); one that names a
    missing authorization has no key, and its kind says so when it is used."""
    label = getattr(record.settings, AUTHORIZATION, None)
    if not label:
        return record
    found = get_authorization(conn, label)
    key = SecretStr(found.api_key) if found is not None else None
    return replace(record, settings=record.settings.model_copy(update={API_KEY: key}))


def detached(settings: BaseModel) -> BaseModel:
    """The settings as stored: a destination naming an authorization keeps no key of its own
    (the one it was loaded with is the authorization's)."""
    if getattr(settings, AUTHORIZATION, None):
        return settings.model_copy(update={API_KEY: None})
    return settings


def save_destination(
    conn: Connection,
    name: str,
    settings: BaseModel,
    *,
    enabled: bool = True,
    by: str | None = None,
) -> tuple[int, bool]:
    """Create or update by name. Returns (id, created). A kind never changes under a name; a
    change that lets through rows the old settings held back reads those rows again."""
    declared = registry.kind_of(settings)
    settings = detached(settings)

    def rescan(old_json: str) -> list[str]:
        old = registry.parse_settings(declared.name, old_json)
        return list(declared.rescan_streams(old, settings))

    return store_destination(
        conn,
        name,
        declared.name,
        registry.dump_settings(settings),
        enabled=enabled,
        rescan=rescan,
        by=by,
    )


def load_destinations(store: Store) -> list[DestinationRecord]:
    with store.read() as conn:
        return list_destinations(conn)


def audience_users(conn: Connection, name: str) -> list[str]:
    """Names of the destinations whose export sends this audience."""
    return [
        d.name
        for d in list_destinations(conn)
        if getattr(getattr(d.settings, "export", None), "audience", None) == name
    ]


def authorization_users(conn: Connection, label: str) -> list[str]:
    """Names of the destinations whose settings name this authorization."""
    return [
        d.name
        for d in list_destinations(conn)
        if getattr(d.settings, "authorization", None) == label
    ]
