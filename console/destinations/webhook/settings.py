"""Webhook settings: an operator's HTTPS URL that receives Reclaim events, signed with a shared
secret."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from console.core.secrets import check_secret, is_masked
from console.destinations.settings_fields import (
    EmailDomains,
    EventNames,
    RevenueByEvent,
    RevenueMetric,
    ScheduleMinutes,
)

# Plain http:// only reaches this machine (the sandbox, tests): anything else would carry
# customers' emails and the signature in clear text over the network.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MIN_SECRET_CHARS = 16
URL_PATTERN = r"\s*https?://\S+\s*"


def webhook_url(value: str) -> str:
    """An https:// URL (http:// for 127.0.0.1 and localhost only), without credentials."""
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an https:// URL")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError("must be https:// (http:// only for 127.0.0.1 or localhost)")
    if parts.username or parts.password:
        # The URL is shown on the settings panel and in logs; the secret is not.
        raise ValueError("must not carry credentials; the signing secret authenticates")
    return value


class WebhookFilters(BaseModel):
    """Which events go. Values within a filter are alternatives (OR); an empty filter lets every
    event through. The contact filters of Segment (landing page, state, referrer) are attributes
    of a contact, not of an event row, so they are not offered here."""

    model_config = ConfigDict(extra="forbid")
    email_domains: EmailDomains = []

    @field_validator("email_domains", mode="after")
    @classmethod
    def _lower(cls, values: list[str]) -> list[str]:
        return [v.strip().lower().lstrip("@") for v in values]


class WebhookSettings(BaseModel):
    """Reclaim events as signed JSON POSTs in Retention.com's webhook shape."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["webhook"] = "webhook"
    url: str = Field(
        title="URL",
        description="Where each event is POSTed.",
        json_schema_extra={
            "section": "Webhook receiver",
            "placeholder": "https://hooks.example.com/retention",
            "pattern": URL_PATTERN,
            "invalid": "an https:// URL (http:// only for 127.0.0.1 or localhost)",
        },
    )
    secret: SecretStr = Field(
        title="Signing secret",
        description="Shared with the receiver to sign every request; or `env:NAME`.",
        json_schema_extra={"placeholder": "the shared secret (16+ characters), or env:NAME"},
    )
    reclaim: bool = Field(
        default=True,
        title="Reclaim",
        description="send events",
        json_schema_extra={"section": "Reclaim"},
    )
    revenue_metric: RevenueMetric = None
    revenue_by_event: RevenueByEvent = {}
    reclaim_events: EventNames = []
    schedule_minutes: ScheduleMinutes = 15
    filters: WebhookFilters = Field(
        default=WebhookFilters(),
        title="Event filters (comma separated; empty sends every event)",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return webhook_url(value)

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: SecretStr) -> SecretStr:
        checked = check_secret(value)
        text = checked.get_secret_value()
        # A masked secret (an exported file) stands for the stored one; `config apply` swaps it.
        if not text.startswith("env:") and not is_masked(text) and len(text) < MIN_SECRET_CHARS:
            # A short HMAC key can be guessed offline from one signed request.
            raise ValueError(f"must be at least {MIN_SECRET_CHARS} characters")
        return checked
