"""What ReSci is sent, planned without the store: mapped events (the kind's `ChunkPlanner`),
user updates from an audience delta, and the failures of an import job's rejected rows.

Pure: rows, settings and the day are handed in; the engine (events) or the poller (user
updates, through its run context) persists the messages.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from console.audiences.membership import DeltaChunk
from console.core.vocab import RowKind
from console.destinations.kind import PlannedChunk, PlannedMessage
from console.destinations.resci.adapter import event_body, record_id, user_body
from console.destinations.resci.backfill import Export, Projection
from console.destinations.resci.settings import ResciSettings, reserved_name

EVENTS = "events"
NO_EMAIL = "the event has no email, so ReSci cannot tell whose it is; it was not sent"

ENTER, CHANGE, EXIT = "enter", "change", "exit"


def message_id(*parts: str) -> str:
    """`rc-` and 40 hex characters; the same parts give the same id."""
    return "rc-" + hashlib.sha1("\x1f".join(parts).encode()).hexdigest()


# --- events --------------------------------------------------------------------------------------


def plan_events(settings: ResciSettings, rows: Sequence[Mapping[str, Any]]) -> PlannedChunk:
    """Mapped events as `event` messages with their reserved name (the event's own messageId);
    an event whose own name is a reserved one (any case, spaces around) is sent under it;
    others skipped and counted; one without an email a local failure."""
    chunk = PlannedChunk()
    mapping = settings.events
    site_id = settings.site_id or ""
    for event in rows:
        reserved = mapping.get(event["event"]) or reserved_name(event["event"])
        if reserved is None:
            chunk.skipped += 1
            continue
        try:
            properties = orjson.loads(event["properties"])
        except orjson.JSONDecodeError:
            properties = {}
        if not isinstance(properties, dict):
            properties = {"value": properties}
        email = event["email"] or ""
        body = event_body(site_id, reserved, email, properties, event["timestamp"])
        if not email:
            body.pop("email", None)
            body.pop("record_id", None)
        chunk.messages.append(
            PlannedMessage(
                kind=RowKind.EVENT,
                message_id=event["message_id"],
                email=event["email"],
                payload=orjson.dumps(body),
                problem=None if email else NO_EMAIL,
            )
        )
    return chunk


class ResciPlanner:
    """The `ChunkPlanner` of the ReSci kind: events, with Enable On-Site. (The audience is
    planned by the poller, once its backfill has completed.)"""

    def streams(self, settings: ResciSettings) -> Sequence[str]:
        return [EVENTS] if settings.on_site else []

    def wants_suppressions(self, settings: ResciSettings) -> bool:
        return False

    def plan(
        self,
        stream: str,
        settings: ResciSettings,
        rows: Sequence[dict[str, Any]],
        suppressed: set[str],
    ) -> PlannedChunk:
        return plan_events(settings, rows)


# --- user updates --------------------------------------------------------------------------------


def user_message(
    destination_id: int,
    contact: Mapping[str, Any],
    mapped: Sequence[tuple[str, object]],
    audience: str,
    change: str,
    *,
    exit_mode: str,
    today: str,
    run_id: int,
    digest: str,
) -> PlannedMessage:
    """A `user update`. Its id includes the run, since a user may enter, leave and enter again
    with the same fields; the poller queues it in the transaction that moves the cursor, so a
    crash never queues it twice."""
    leaving = change == EXIT
    email = contact["email"]
    body = user_body(
        email,
        contact["created_at"],
        [] if leaving else mapped,
        audience,
        member=not leaving,
        unsubscribed_on=today if leaving and exit_mode == "unsubscribe" else None,
    )
    return PlannedMessage(
        kind=RowKind.USER_UPDATE,
        message_id=message_id(
            "resci-user", str(destination_id), email, digest, change, str(run_id)
        ),
        email=email,
        payload=orjson.dumps(body),
    )


def plan_delta(
    destination_id: int, export: Export, delta: DeltaChunk, *, run_id: int, today: str
) -> list[PlannedMessage]:
    """User updates for one chunk of the delta: entered and changed users with their mapped
    fields and the attribute true; users who left with the attribute false."""
    projection = Projection(export)
    messages = []
    for change, group in ((ENTER, delta.entered), (CHANGE, delta.changed)):
        for contact in group:
            messages.append(
                user_message(
                    destination_id,
                    contact,
                    projection.mapped(contact),
                    export.audience,
                    change,
                    exit_mode=export.exit_mode,
                    today=today,
                    run_id=run_id,
                    digest=delta.hashes[contact["id"]],
                )
            )
    for contact in delta.left:
        messages.append(
            user_message(
                destination_id,
                contact,
                [],
                export.audience,
                EXIT,
                exit_mode=export.exit_mode,
                today=today,
                run_id=run_id,
                digest=delta.left_hashes.get(contact["id"], ""),
            )
        )
    return messages


def plan_exits(
    destination_id: int,
    members: Sequence[Mapping[str, Any]],
    audience: str,
    *,
    exit_mode: str,
    today: str,
    run_id: int,
) -> list[PlannedMessage]:
    """Members of an audience the destination exported before, told they left it."""
    return [
        user_message(
            destination_id,
            member,
            [],
            audience,
            EXIT,
            exit_mode=exit_mode,
            today=today,
            run_id=run_id,
            digest="switch",
        )
        for member in members
    ]


# --- import job rejections -----------------------------------------------------------------------


def rejection_message(
    destination_id: int, job_id: int, key: str, email: str, body: dict[str, Any] | None, reason: str
) -> PlannedMessage:
    """A failed `import row`: its payload is the user update a retry sends (`body`, or the
    bare record id and email when the contact is gone)."""
    payload = body if body is not None else {"record_id": record_id(email), "email": email}
    return PlannedMessage(
        kind=RowKind.IMPORT_ROW,
        message_id=message_id("resci-import", str(destination_id), str(job_id), key),
        email=email or None,
        payload=orjson.dumps(payload),
        problem=reason or "rejected by ReSci",
    )


def plan_rejections(
    destination_id: int,
    job_id: int,
    audience: str,
    fields: Sequence[tuple[str, str]],
    rejected: Mapping[int, tuple[str, str]],
    contacts: Mapping[int, Mapping[str, Any]],
) -> list[PlannedMessage]:
    """One failed `import row` per rejected contact (contact id -> (email ReSci read, its
    message)), the payload built from the contact as it is now (`contacts`, by id)."""
    messages = []
    for contact_id, (email, reason) in rejected.items():
        contact = contacts.get(contact_id)
        body = None
        if contact is not None:
            mapped = [(t, contact[s]) for s, t in fields]
            body = user_body(contact["email"], contact["created_at"], mapped, audience)
            email = contact["email"]
        messages.append(
            rejection_message(destination_id, job_id, f"contact:{contact_id}", email, body, reason)
        )
    return messages
