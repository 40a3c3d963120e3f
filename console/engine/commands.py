"""The command service: the one writer of what the operator changes.

Destinations (save, switch on/off, pause, remove), configuration (`config apply`: audiences and
destinations together), and the operator's retries are written here and nowhere else: the
console's screens, the command palette and the CLI call these methods and only read the store
themselves. Runs are the runner's (`console.engine.runner`), which the same engine owns.

It needs no scheduler and no event loop, so the CLI uses it as is; `EngineService` wraps it to
reschedule and deliver after a change. Methods block (SQLite waits, a removal waits for a run),
so the console calls them off its UI thread.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import orjson
from pydantic import BaseModel, SecretStr

from console.audiences.rules import parse_rule
from console.core import clock
from console.core.operator import operator_name
from console.core.secrets import check_secret, is_masked, mask_secret, reveal
from console.destinations import registry
from console.engine.alert_settings import AlertSettings
from console.engine.change_log import (
    AUDIENCE,
    AUTHORIZATION,
    DESTINATION,
    FLAG_ACTIONS,
    SUPPRESSIONS,
    diff,
    log_change,
    log_destination_save,
)
from console.engine.destinations import (
    audience_users,
    authorization_users,
    detached,
    get_destination,
    list_destinations,
    save_destination,
)
from console.engine.erasure import Forgotten, forget_contacts
from console.engine.masked_secrets import unmask_alert_secrets, unmask_destination_secrets
from console.engine.refusals import CommandRefused, DestinationBusy, NoSuchDestination
from state.alerts import save_alert_config
from state.audiences import delete_audience, get_audience, list_audiences, save_audience
from state.authorizations import (
    delete_authorization,
    get_authorization,
    list_authorizations,
    save_authorization,
)
from state.cursors import forget_cursors
from state.db import Connection, Store
from state.destinations import remove_destination as delete_destination
from state.destinations import set_flags
from state.outbox import destinations_of, requeue_failures
from state.retention import Pruned, prune_delivered
from state.retention import vacuum as vacuum_store
from state.runs import acquire_lease, owner_id, release_lease
from state.suppressions import add_suppressions, remove_suppressions
from state.versions import superseded_by_delivered

REMOVE_WAIT_SECONDS = 5.0
"""How long a removal waits for a run in flight to end before it refuses."""
_LEASE_POLL_SECONDS = 0.2

__all__ = [
    "Applied",
    "AuthorizationChange",
    "CommandRefused",
    "Commands",
    "DestinationBusy",
    "DestinationChange",
    "NoSuchDestination",
    "Requeued",
    "Saved",
]


@dataclass(frozen=True)
class Saved:
    id: int
    created: bool
    draft: bool = False
    """Created switched off: a new destination waits for the operator to enable it."""


@dataclass(frozen=True)
class DestinationChange:
    """One destination of a configuration file, already validated by its kind's model."""

    name: str
    settings: BaseModel
    enabled: bool = True


@dataclass
class Applied:
    """What `apply_configuration` created and updated, in the file's order."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    audiences: list[str] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    alerts: list[str] | None = None
    """The alert channels applied (None: the file had no `[alerts]` section)."""


@dataclass(frozen=True)
class AuthorizationChange:
    """One authorization of a configuration file: label, key (or `env:NAME`, or a mask)."""

    label: str
    api_key: str
    description: str | None = None


@dataclass(frozen=True)
class Requeued:
    """Failed rows put back in the queue, and the destinations they belong to; `refused` holds
    the rows left failed, with the reason each was not re-queued."""

    count: int
    destination_ids: list[int]
    refused: dict[int, str] = field(default_factory=dict)

    def refused_line(self) -> str:
        """`2 not retried: a newer version of the contact was delivered on 2024-04-16 (...)`, or
        "" when none was refused."""
        if not self.refused:
            return ""
        reasons = sorted(set(self.refused.values()))
        shown = "; ".join(reasons[:3]) + (
            f"; and {len(reasons) - 3} more" if len(reasons) > 3 else ""
        )
        return f"{len(self.refused):,} not retried: {shown}"


class Commands:
    """Every write the operator can ask for, each in one transaction."""

    def __init__(self, store: Store, *, remove_wait_seconds: float = REMOVE_WAIT_SECONDS) -> None:
        self.store = store
        self.remove_wait_seconds = remove_wait_seconds

    # -- destinations -------------------------------------------------------------------------
    def save_destination(
        self, name: str, settings: BaseModel, *, enabled: bool = True, create: bool = False
    ) -> Saved:
        """Create or update by name; `create` refuses a name already taken (the form's "add").
        Raises CommandRefused (field `name`) for a taken name or a changed kind.

        A destination this creates is saved switched off, whatever `enabled` says: a draft,
        which sends nothing until the operator switches it on (after a look at what it would
        send). `config apply` is the exception: a file says `enabled` itself."""
        with self.store.write() as conn:
            existing = get_destination(conn, name)
            exists = existing is not None
            if create and exists:
                raise CommandRefused(
                    f"a destination named {name!r} exists already", destination=name, field="name"
                )
            try:
                destination_id, created = save_destination(
                    conn, name, settings, enabled=enabled and exists, by=operator_name()
                )
            except ValueError as exc:
                raise CommandRefused(str(exc), destination=name, field="kind") from None
            log_destination_save(conn, name, existing, settings, enabled and exists)
        return Saved(destination_id, created, draft=created)

    def set_enabled(self, name: str, enabled: bool) -> bool:
        """Switch a destination on or off; False when there is no such destination."""
        return self._set_flags(name, enabled=enabled)

    def set_paused(self, name: str, paused: bool) -> bool:
        """Pause or resume one destination's schedule; False when there is none."""
        return self._set_flags(name, paused=paused)

    def _set_flags(self, name: str, **flags: bool) -> bool:
        with self.store.write() as conn:
            destination = get_destination(conn, name)
            if destination is None:
                return False
            set_flags(conn, destination.id, **flags, by=operator_name())
            for flag, value in flags.items():
                if getattr(destination, flag) != value:
                    action = FLAG_ACTIONS[flag][value]
                    log_change(conn, DESTINATION, name, action, {flag: [not value, value]})
        return True

    def remove_destination(self, name: str, *, wait_seconds: float | None = None) -> None:
        """Remove a destination with its queue, failures, history and cursors.

        The destination's lease is taken first, in the transaction that deletes: a run in
        flight holds it, so the removal waits for that run up to `wait_seconds` and then
        refuses (DestinationBusy) without deleting anything. Deleting under a running run would
        let it write outcomes and counters for rows and a destination that are gone."""
        patience = self.remove_wait_seconds if wait_seconds is None else wait_seconds
        deadline = time.monotonic() + patience
        owner = owner_id()
        while True:
            holder = self._remove_if_free(name, owner)
            if holder is None:
                return
            if time.monotonic() >= deadline:
                raise DestinationBusy(
                    f"destination {name} is being delivered by {holder}; "
                    "try again when the run ends",
                    destination=name,
                )
            time.sleep(_LEASE_POLL_SECONDS)

    def _remove_if_free(self, name: str, owner: str) -> str | None:
        """Delete under the lease; None when done, else the lease holder's `host:pid`."""
        with self.store.write() as conn:
            destination = get_destination(conn, name)
            if destination is None:
                raise NoSuchDestination(f"no destination named {name!r}", destination=name)
            holder = acquire_lease(conn, destination.id, owner)
            if holder is not None:
                return holder
            delete_destination(conn, destination.id)
            log_change(
                conn, DESTINATION, name, "remove", diff(detached(destination.settings), None)
            )
            # The row holding the lease is gone; this only forgets the owner in this process.
            release_lease(conn, destination.id, owner)
        return None

    # -- configuration ------------------------------------------------------------------------
    def apply_configuration(
        self,
        audiences: Mapping[str, str],
        destinations: Sequence[DestinationChange],
        authorizations: Sequence[AuthorizationChange] = (),
        *,
        alerts: AlertSettings | None = None,
    ) -> Applied:
        """Save audiences (rules already validated), destinations and the `[alerts]` section
        (when given) in ONE transaction: a refusal (CommandRefused naming the destination, or
        `[alerts]`, and the field) changes nothing.

        A secret still masked (a file exported without its keys) keeps the stored key the
        mask stands for; an exported audience must exist, in the store or in `audiences`."""
        applied = Applied()
        with self.store.write() as conn:
            for authorization in authorizations:
                _save_authorization(
                    conn, authorization.label, authorization.api_key, authorization.description
                )
                applied.authorizations.append(authorization.label)
            labels = {a.label for a in list_authorizations(conn)}
            rules = {audience.name: audience.rule for audience in list_audiences(conn)}
            known = set(rules)
            for name, rule in audiences.items():
                save_audience(conn, name, rule)
                log_change(
                    conn, AUDIENCE, name, "save", diff({"rule": rules.get(name)}, {"rule": rule})
                )
                applied.audiences.append(name)
            known |= set(audiences)
            for change in destinations:
                export = getattr(change.settings, "export", None)
                if export is not None and export.audience not in known:
                    raise CommandRefused(
                        f"no audience named {export.audience!r}",
                        destination=change.name,
                        field="export.audience",
                    )
                label = getattr(change.settings, "authorization", None)
                if label and label not in labels:
                    raise CommandRefused(
                        f"no authorization named {label!r}",
                        destination=change.name,
                        field="authorization",
                    )
                settings = unmask_destination_secrets(conn, change.name, change.settings)
                existing = get_destination(conn, change.name)
                try:
                    _, created = save_destination(
                        conn, change.name, settings, enabled=change.enabled, by=operator_name()
                    )
                except ValueError as exc:
                    raise CommandRefused(str(exc), destination=change.name, field="kind") from None
                log_destination_save(conn, change.name, existing, settings, change.enabled)
                (applied.created if created else applied.updated).append(change.name)
            if alerts is not None:
                kept = unmask_alert_secrets(conn, alerts)
                # The store keeps secrets as written (env:NAME or the value), like a
                # destination's settings (the file is 0600).
                save_alert_config(
                    conn, orjson.dumps(reveal(kept.model_dump(by_alias=True))).decode()
                )
                applied.alerts = alerts.channels
        return applied

    # -- authorizations -----------------------------------------------------------------------
    def save_authorization(self, label: str, api_key: str, description: str | None = None) -> Saved:
        """Create or update a reusable authorization; every destination naming it uses the new
        key from its next request on. A masked key (an exported file) keeps the stored one."""
        with self.store.write() as conn:
            return Saved(*_save_authorization(conn, label, api_key, description))

    def remove_authorization(self, label: str) -> None:
        """Remove an authorization no destination uses; refused naming the users otherwise."""
        with self.store.write() as conn:
            users = authorization_users(conn, label)
            if users:
                raise CommandRefused(
                    f"authorization {label!r} is used by {', '.join(users)}; choose another "
                    "for them first",
                    field="authorization",
                )
            if not delete_authorization(conn, label):
                raise CommandRefused(f"no authorization named {label!r}", field="authorization")
            log_change(conn, AUTHORIZATION, label, "remove", {})

    # -- audiences ----------------------------------------------------------------------------
    def save_audience(self, name: str, rule: str, *, create: bool = False) -> Saved:
        """Create or change an audience's rule (checked here: a rule that does not parse is
        refused with its position); `create` refuses a name already taken. Exports using it
        read the new rule on their next run."""
        name = name.strip()
        if not name:
            raise CommandRefused("an audience needs a name", field="name")
        try:
            parse_rule(rule)
        except ValueError as exc:
            raise CommandRefused(f"rule: {exc}", field="rule") from None
        with self.store.write() as conn:
            before = get_audience(conn, name)
            if create and before is not None:
                raise CommandRefused(f"an audience named {name!r} exists already", field="name")
            saved = Saved(*save_audience(conn, name, rule))
            old_rule = {"rule": before.rule} if before is not None else None
            log_change(conn, AUDIENCE, name, "save", diff(old_rule, {"rule": rule}))
            return saved

    def remove_audience(self, name: str) -> None:
        """Remove an audience no export uses; refused naming the destinations otherwise."""
        with self.store.write() as conn:
            users = audience_users(conn, name)
            if users:
                raise CommandRefused(
                    f"audience {name!r} is exported by {', '.join(users)}; choose another "
                    "audience for them first",
                    field="audience",
                )
            if not delete_audience(conn, name):
                raise CommandRefused(f"no audience named {name!r}", field="audience")
            log_change(conn, AUDIENCE, name, "remove", {})

    # -- suppressions -------------------------------------------------------------------------
    def add_suppressions(self, md5s: Sequence[str], source: str) -> int:
        """Suppress these email MD5s (noted with `source`); returns how many were new. Rows
        already queued for them are stopped as they leave (the runner checks again)."""
        with self.store.write() as conn:
            added = add_suppressions(conn, md5s, source)
            if added:
                log_change(conn, SUPPRESSIONS, source, "add", {"suppressions": [None, added]})
            return added

    def remove_suppressions(self, md5s: Sequence[str]) -> list[str]:
        """Lift these suppressions; returns the MD5s that were suppressed. Every destination
        that applies suppression reads its contacts and events again on its next run, so the
        contacts it held back are reconsidered (the stable messageIds keep everything else
        from being queued twice)."""
        with self.store.write() as conn:
            removed = remove_suppressions(conn, md5s)
            if removed:
                log_change(conn, SUPPRESSIONS, "", "remove", {"suppressions": [len(removed), None]})
                for destination in list_destinations(conn):
                    planner = registry.kind(destination.kind).planner
                    if planner.wants_suppressions(destination.settings):
                        forget_cursors(conn, destination.id, planner.streams(destination.settings))
        return removed

    # -- history ------------------------------------------------------------------------------
    def prune(self, older_than_days: int, *, vacuum: bool = False) -> Pruned:
        """Delete delivered outbox rows older than `older_than_days` days, in short batches
        (state/retention.py): unlike the other commands, many transactions, so the engine
        keeps writing meanwhile; `vacuum` then rebuilds the store's file to give the space
        back."""
        before = (clock.now() - timedelta(days=older_than_days)).date().isoformat()
        pruned = prune_delivered(self.store, before)
        if vacuum:
            vacuum_store(self.store)
        return pruned

    # -- erasure ------------------------------------------------------------------------------
    def forget(self, emails: Sequence[str]) -> Forgotten:
        """Erase these contacts from the store (console.engine.erasure); refused for a value
        that is not an email, before anything is deleted."""
        try:
            return forget_contacts(self.store, emails)
        except ValueError as exc:
            raise CommandRefused(str(exc), field="email") from None

    # -- retries ------------------------------------------------------------------------------
    def requeue(self, row_ids: Sequence[int]) -> Requeued:
        """Put failed rows back in the queue: attempts start again, the failure leaves the day
        it was counted on. Rows that are not failed (any more) are left alone.

        A contact's state row (identify, user update, import row) is refused, and stays
        failed, when a newer version of the contact was delivered to the same destination:
        the last state to arrive wins there, so sending the old one would undo the newer."""
        ids = list(row_ids)
        with self.store.write() as conn:
            stale = superseded_by_delivered(conn, ids)
            refused = {
                row_id: f"a newer version of this contact was delivered on {at[:10]} {at[11:16]} UTC"
                for row_id, at in stale.items()
            }
            wanted = [row_id for row_id in ids if row_id not in refused]
            return Requeued(requeue_failures(conn, wanted), destinations_of(conn, wanted), refused)


def _save_authorization(
    conn: Connection, label: str, api_key: str, description: str | None
) -> tuple[int, bool]:
    label = label.strip()
    if not label:
        raise CommandRefused("an authorization needs a label", field="label")
    key = api_key.strip()
    if is_masked(key):
        existing = get_authorization(conn, label)
        if existing is None or mask_secret(SecretStr(existing.api_key)) != key:
            raise CommandRefused(
                f"authorization {label!r}: the key is masked (exported without "
                "--include-secrets) and matches no stored key; put the key back or use env:NAME",
                field="api_key",
            )
        key = existing.api_key
    try:
        key = check_secret(SecretStr(key)).get_secret_value()
    except ValueError as exc:
        raise CommandRefused(f"authorization {label!r}: API key {exc}", field="api_key") from None
    description = (description or "").strip() or None
    before = get_authorization(conn, label)
    saved = save_authorization(conn, label, key, description)
    log_change(
        conn,
        AUTHORIZATION,
        label,
        "save",
        diff(
            {"api_key": SecretStr(before.api_key), "description": before.description}
            if before
            else None,
            {"api_key": SecretStr(key), "description": description},
        ),
    )
    return saved
