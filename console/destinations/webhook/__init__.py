"""The webhook kind: Reclaim events as signed JSON POSTs to an operator's HTTPS URL, in the shape
Retention.com documents for its "Webhook Reclaim" integration (see `payload.py`).

Requests. One event per POST to `url`, `Content-Type: application/json`; the body is the event
(`id`, `email`, `event_type`, `occurred_at`, `properties`). A re-send (a retry, a crash between
sending and recording) carries the same `id`, the event's messageId: receivers de-duplicate by it.

Signature. Every request carries

    X-Retention-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>

where the HMAC is computed under the shared secret over the bytes `f"{t}.{body}"` (the
timestamp, a dot, then the raw body exactly as received). A receiver recomputes it, compares in
constant time, and refuses a `t` more than 5 minutes from its own clock, so a captured request
cannot be replayed later:

    import hashlib, hmac, time


    def verify(secret: bytes, header: str, body: bytes, tolerance: int = 300) -> bool:
        fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
        if not fields.get("t", "").isdigit() or "v1" not in fields:
            return False
        if abs(time.time() - int(fields["t"])) > tolerance:
            return False  # too old (or too far ahead): a replay, or a wrong clock
        expected = hmac.new(secret, fields["t"].encode() + b"." + body, hashlib.sha256)
        return hmac.compare_digest(expected.hexdigest(), fields["v1"])

Replies. Any 2xx is delivered. 429, 408, 5xx and connection errors are retried with backoff,
honouring `Retry-After`; another 4xx fails the event with the receiver's words as its feedback.
401/403 (a refused signature), 404/405 (not a receiver) and 3xx (redirects are not followed)
stop the run with the events kept queued, as a refused key does for the other kinds.

Test connection POSTs a signed `{"event_type": "ping", "test": true}` without an email; a
receiver answers it 2xx and records nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from console.core.secrets import SecretError, mask_secret, resolve_secret
from console.destinations.base import DestinationAdapter
from console.destinations.kind import Capabilities, DestinationKind
from console.destinations.settings_fields import per_event_words
from console.destinations.webhook.adapter import WebhookAdapter
from console.destinations.webhook.planner import EVENTS, WebhookPlanner
from console.destinations.webhook.settings import MIN_SECRET_CHARS, WebhookSettings


def _adapter(settings: WebhookSettings) -> DestinationAdapter:
    secret = resolve_secret(settings.secret)
    if len(secret) < MIN_SECRET_CHARS:
        # The settings check literal secrets; one read from the environment is checked here.
        raise SecretError(f"the signing secret must be at least {MIN_SECRET_CHARS} characters")
    return WebhookAdapter(settings.url, secret)


def _describe(settings: WebhookSettings) -> list[tuple[str, str]]:
    # One (label, value) pair a panel line, shown as `label value`.
    events = ", ".join(settings.reclaim_events) if settings.reclaim_events else "every event"
    domains = ", ".join(settings.filters.email_domains)
    return [
        ("URL", settings.url),
        ("Signing secret", f"{mask_secret(settings.secret)} · HMAC-SHA256, X-Retention-Signature"),
        (
            "Reclaim",
            f"{'on' if settings.reclaim else 'off'} ({events}) · revenue metric "
            f"{settings.revenue_metric or '—'}{per_event_words(settings.revenue_by_event)}"
            " · filters: " + (f"email domain {domains}" if domains else "none (every event)"),
        ),
    ]


def _rescan(old: WebhookSettings, new: WebhookSettings) -> Sequence[str]:
    # Events a narrower filter held back are reconsidered; the stable ids keep what was already
    # queued from being queued twice. Event names added later apply from then on, as for
    # Segment's Reclaim events.
    return [EVENTS] if old.filters != new.filters else []


KIND = DestinationKind(
    name="webhook",
    label="Webhook",
    summary="Webhook: Reclaim events as signed JSON POSTs to your HTTPS URL",
    settings_model=WebhookSettings,
    capabilities=Capabilities(events=True, event_selection=True),
    adapter=_adapter,
    describe=_describe,
    planner=WebhookPlanner(),
    rescan_streams=_rescan,
)
