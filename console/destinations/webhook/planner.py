"""Plan for a webhook destination: each new event that passes the filters and the Reclaim event
names becomes one body to POST. Pure: the engine reads the chunks and persists what this returns
together with the cursor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from console.core.vocab import RowKind
from console.destinations.kind import PlannedChunk, PlannedMessage
from console.destinations.settings_fields import revenue_property
from console.destinations.webhook.payload import body_problem, webhook_body
from console.destinations.webhook.settings import WebhookFilters, WebhookSettings

EVENTS = "events"


def event_passes(event: dict[str, Any], filters: WebhookFilters) -> bool:
    """The email-domain filter; an event without an email matches no domain."""
    if not filters.email_domains:
        return True
    email = event.get("email") or ""
    return email.rpartition("@")[2].lower() in filters.email_domains


def plan_events(settings: WebhookSettings, rows: Sequence[dict[str, Any]]) -> PlannedChunk:
    """Events not named in `reclaim_events` (when any are) are skipped, those outside the
    filters filtered; the rest become one message each, an email-less one a local failure."""
    chunk = PlannedChunk()
    wanted = set(settings.reclaim_events)
    for event in rows:
        if wanted and event["event"] not in wanted:
            chunk.skipped += 1
            continue
        if not event_passes(event, settings.filters):
            chunk.filtered += 1
            continue
        metric = revenue_property(
            settings.revenue_metric, settings.revenue_by_event, event["event"]
        )
        body = webhook_body(event, metric)
        chunk.messages.append(
            PlannedMessage(
                kind=RowKind.EVENT,
                message_id=event["message_id"],
                email=event.get("email"),
                payload=orjson.dumps(body),
                problem=body_problem(body),
            )
        )
    return chunk


class WebhookPlanner:
    """The `ChunkPlanner` of the webhook kind: events only (Reclaim)."""

    def streams(self, settings: WebhookSettings) -> Sequence[str]:
        return [EVENTS] if settings.reclaim else []

    def wants_suppressions(self, settings: WebhookSettings) -> bool:
        return False  # suppression applies to Grow contacts; this kind sends events only

    def plan(
        self,
        stream: str,
        settings: WebhookSettings,
        rows: Sequence[dict[str, Any]],
        suppressed: set[str],
    ) -> PlannedChunk:
        return plan_events(settings, rows)
