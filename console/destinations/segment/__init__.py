"""The Segment kind: Grow contacts as `identify`, Reclaim events as `track`."""

from __future__ import annotations

from collections.abc import Sequence

from console.core.secrets import mask_secret, resolve_secret
from console.destinations.base import DestinationAdapter
from console.destinations.kind import BatchLimits, Capabilities, DestinationKind
from console.destinations.segment.adapter import (
    MAX_BATCH_BYTES,
    MAX_BATCH_MESSAGES,
    MAX_MESSAGE_BYTES,
    SegmentAdapter,
)
from console.destinations.segment.planner import CONTACTS, EVENTS, SegmentPlanner
from console.destinations.segment.settings import SegmentSettings
from console.destinations.settings_fields import per_event_words


def _adapter(settings: SegmentSettings) -> DestinationAdapter:
    return SegmentAdapter(settings.endpoint, resolve_secret(settings.write_key))


def _describe(settings: SegmentSettings) -> list[tuple[str, str]]:
    # One (label, value) pair a panel line, shown as `label value`.
    filters = settings.filters
    parts = [
        ("email domain", filters.email_domains),
        ("landing page URL", filters.landing_page_urls),
        ("landing page domain", filters.landing_page_domains),
        ("state", filters.states),
        ("referrer URL", filters.referrer_urls),
    ]
    chosen = "; ".join(f"{label} {', '.join(values)}" for label, values in parts if values)
    events = ", ".join(settings.reclaim_events) if settings.reclaim_events else "every event"
    return [
        ("Write key", f"{mask_secret(settings.write_key)} · endpoint {settings.endpoint}"),
        (
            "Grow",
            f"{'on' if settings.grow else 'off'}"
            + (f" (group {settings.group_id})" if settings.group_id else "")
            + f" · suppression {'on' if settings.suppression else 'off'}"
            + (
                " (their Reclaim events sent)"
                if settings.suppression and settings.reclaim_suppressed
                else ""
            )
            + f" · Reclaim {'on' if settings.reclaim else 'off'} ({events})",
        ),
        (
            "Revenue metric",
            f"{settings.revenue_metric or '—'}{per_event_words(settings.revenue_by_event)}"
            f" · filters: {chosen or 'none (every contact)'}",
        ),
    ]


def _rescan(old: SegmentSettings, new: SegmentSettings) -> Sequence[str]:
    # Contacts a narrower filter or the suppression list held back are reconsidered; the
    # stable messageIds keep what was already queued from being queued twice.
    fields = ("grow", "filters", "suppression", "group_id")
    streams = [CONTACTS] if any(getattr(old, f) != getattr(new, f) for f in fields) else []
    # Events of suppressed contacts held back before are reconsidered the same way.
    held = ("suppression", "reclaim_suppressed")
    if any(getattr(old, f) != getattr(new, f) for f in held):
        streams.append(EVENTS)
    return streams


KIND = DestinationKind(
    name="segment",
    label="Segment",
    summary="Segment: Grow contacts (identify) and Reclaim events (track)",
    settings_model=SegmentSettings,
    capabilities=Capabilities(
        contacts=True,
        events=True,
        event_selection=True,
        batch=BatchLimits(
            max_messages=MAX_BATCH_MESSAGES,
            max_request_bytes=MAX_BATCH_BYTES,
            max_message_bytes=MAX_MESSAGE_BYTES,
        ),
    ),
    adapter=_adapter,
    describe=_describe,
    planner=SegmentPlanner(),
    rescan_streams=_rescan,
)
