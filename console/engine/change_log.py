"""What the commands write to the change log: a field-level diff of what changed, with every
secret replaced by its mask (`mask_secret`) so no key ever reaches the table, and who did it.

A key changed shows as its old and new masks; two keys that share their last four characters
show as `•••• (changed)`, so a rotation is never invisible.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, SecretStr

from console.core.operator import operator_name
from console.core.secrets import mask_secret
from console.engine.destinations import DestinationRecord, detached
from state.changes import record_change
from state.db import Connection

DESTINATION, AUDIENCE, AUTHORIZATION, SUPPRESSIONS = (
    "destination",
    "audience",
    "authorization",
    "suppressions",
)
Diff = dict[str, list[Any]]


def _flatten(value: Any, prefix: str, into: dict[str, Any]) -> None:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), into)
    else:
        into[prefix] = value


def fields_of(settings: BaseModel | Mapping[str, Any] | None) -> dict[str, Any]:
    """`a.b.c` -> value, secrets still as `SecretStr` (masked only when written)."""
    if settings is None:
        return {}
    dumped = settings.model_dump() if isinstance(settings, BaseModel) else dict(settings)
    flat: dict[str, Any] = {}
    _flatten(dumped, "", flat)
    return flat


def _shown(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return mask_secret(value)
    if isinstance(value, list | tuple):
        return [_shown(item) for item in value]
    return value


def _raw(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value


def diff(
    before: BaseModel | Mapping[str, Any] | None, after: BaseModel | Mapping[str, Any] | None
) -> Diff:
    """Fields whose value differs -> [before, after], secrets masked; None for absent."""
    old, new = fields_of(before), fields_of(after)
    changed: Diff = {}
    for key in sorted(old.keys() | new.keys()):
        was, now = old.get(key), new.get(key)
        if _raw(was) == _raw(now):
            continue
        shown_was, shown_now = _shown(was), _shown(now)
        if shown_was == shown_now:
            shown_now = f"{shown_now} (changed)"
        changed[key] = [shown_was, shown_now]
    return changed


def log_change(conn: Connection, subject: str, name: str, action: str, changes: Diff) -> None:
    """Record a change by the operator running this process (`user@host`); a save that
    changed nothing is not a change."""
    if action == "save" and not changes:
        return
    record_change(conn, subject, name, action, changes, operator_name())


FLAG_ACTIONS = {
    "enabled": {True: "enable", False: "disable"},
    "paused": {True: "pause", False: "resume"},
}


def log_destination_save(
    conn: Connection,
    name: str,
    existing: DestinationRecord | None,
    settings: BaseModel,
    enabled: bool,
) -> None:
    """A save's diff against the destination as it was (as stored: a key of its own, not its
    authorization's), with `enabled` beside the settings."""
    before = (
        {**fields_of(detached(existing.settings)), "enabled": existing.enabled}
        if existing
        else None
    )
    after = {**fields_of(detached(settings)), "enabled": enabled}
    log_change(conn, DESTINATION, name, "save" if existing else "create", diff(before, after))
