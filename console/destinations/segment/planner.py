"""Plan for a Segment destination: new contact versions become `identify` messages and new events
`track` messages. Pure: the engine reads the chunks (and the chunk's suppressed emails) from the
store, and persists what this returns together with the cursor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from console.core.identity import email_md5
from console.core.vocab import RowKind
from console.destinations.kind import PlannedChunk, PlannedMessage
from console.destinations.segment.adapter import identify_message, message_problem, track_message
from console.destinations.segment.settings import SegmentFilters, SegmentSettings
from console.destinations.settings_fields import revenue_property

CONTACTS = "contacts"
EVENTS = "events"


def contact_passes(contact: dict[str, Any], filters: SegmentFilters) -> bool:
    """The seed's custom sync options: OR within a filter, AND across filters."""
    if filters.email_domains and (contact.get("email_domain") or "") not in filters.email_domains:
        return False
    if filters.landing_page_urls:
        url = (contact.get("landing_page_url") or "").lower()
        if not any(part.lower() in url for part in filters.landing_page_urls):
            return False
    if (
        filters.landing_page_domains
        and (contact.get("landing_page_domain") or "").lower() not in filters.landing_page_domains
    ):
        return False
    if filters.states and (contact.get("address_state") or "").lower() not in filters.states:
        return False
    if filters.referrer_urls:
        referrer = (contact.get("referrer") or "").lower()
        if not any(part.lower() in referrer for part in filters.referrer_urls):
            return False
    return True


def _encoded(kind: RowKind, email: str | None, message: dict[str, Any]) -> PlannedMessage:
    payload = orjson.dumps(message)
    return PlannedMessage(
        kind=kind,
        message_id=message["messageId"],
        email=email,
        payload=payload,
        problem=message_problem(message, payload),
    )


def plan_contacts(
    settings: SegmentSettings, rows: Sequence[dict[str, Any]], suppressed: set[str]
) -> PlannedChunk:
    """Grow: contacts passing the filters and not suppressed, as `identify` messages."""
    chunk = PlannedChunk()
    passing = [c for c in rows if contact_passes(c, settings.filters)]
    chunk.filtered = len(rows) - len(passing)
    for contact in passing:
        if settings.suppression and suppressed and email_md5(contact["email"]) in suppressed:
            chunk.suppressed += 1
            continue
        message = identify_message(contact, settings.group_id)
        chunk.messages.append(_encoded(RowKind.IDENTIFY, contact["email"], message))
    return chunk


def plan_events(
    settings: SegmentSettings, rows: Sequence[dict[str, Any]], suppressed: set[str]
) -> PlannedChunk:
    """Reclaim: the wanted events (every event when none are named) as `track` messages; with
    suppression on, those of suppressed contacts only when `reclaim_suppressed` says so."""
    chunk = PlannedChunk()
    wanted = set(settings.reclaim_events)
    hold_back = settings.suppression and not settings.reclaim_suppressed and bool(suppressed)
    for event in rows:
        if wanted and event["event"] not in wanted:
            chunk.skipped += 1
            continue
        if hold_back and event.get("email") and email_md5(event["email"]) in suppressed:
            chunk.suppressed += 1
            continue
        metric = revenue_property(
            settings.revenue_metric, settings.revenue_by_event, event["event"]
        )
        message = track_message(event, metric)
        chunk.messages.append(_encoded(RowKind.TRACK, event.get("email"), message))
    return chunk


class SegmentPlanner:
    """The `ChunkPlanner` of the Segment kind."""

    def streams(self, settings: SegmentSettings) -> Sequence[str]:
        return [s for s, on in ((CONTACTS, settings.grow), (EVENTS, settings.reclaim)) if on]

    def wants_suppressions(self, settings: SegmentSettings) -> bool:
        return settings.suppression

    def plan(
        self,
        stream: str,
        settings: SegmentSettings,
        rows: Sequence[dict[str, Any]],
        suppressed: set[str],
    ) -> PlannedChunk:
        if stream == CONTACTS:
            return plan_contacts(settings, rows, suppressed)
        return plan_events(settings, rows, suppressed)
