"""Destination settings: one pydantic model per destination kind, stored as JSON in `destinations`.

Secrets are `SecretStr` so that repr, logs and tracebacks never show them. A secret may be the
literal key or `env:NAME`, which is kept as written and read from the environment at use.
"""

from __future__ import annotations

import os
from typing import Annotated, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from state.models import CONTACT_FIELDS

SEGMENT_ENDPOINTS = {"us": "https://api.segment.io", "eu": "https://events.eu1.segmentapis.com"}
RESCI_DEFAULT_ENDPOINT = "https://data.retentionscience.com"
RESCI_RESERVED_EVENTS: tuple[str, ...] = (
    "click",
    "view",
    "email_open",
    "email_click",
    "shopping_cart",
    "checkout_success",
    "search",
)
# ReSci's documented user-file columns (RESCI-API.md); record_id, email and account_created_on are
# always sent, so they are not mapping targets.
RESCI_USER_FIELDS: tuple[str, ...] = (
    "date_unsubscribed",
    "full_name",
    "address1",
    "address2",
    "city",
    "state",
    "zip",
    "country",
    "phone",
    "birthday",
    "gender",
    "registration_source",
)
RESCI_ALWAYS_SENT = ("record_id", "email", "account_created_on")


class SecretError(ValueError):
    """A secret given as `env:NAME` names a variable that is not set."""


def resolve_secret(secret: SecretStr) -> str:
    """The key itself: the literal value, or the environment variable an `env:NAME` names."""
    value = secret.get_secret_value()
    if value.startswith("env:"):
        name = value[4:]
        resolved = os.environ.get(name)
        if not resolved:
            raise SecretError(f"environment variable {name} is not set")
        return resolved
    return value


def mask_secret(secret: SecretStr | None) -> str:
    """`env:NAME` as written; a literal key as dots and its last four characters."""
    if secret is None:
        return ""
    value = secret.get_secret_value()
    if not value:
        return ""
    if value.startswith("env:"):
        return value
    return "••••" + value[-4:] if len(value) > 8 else "••••"


def _check_secret(value: SecretStr) -> SecretStr:
    text = value.get_secret_value().strip()
    if not text:
        raise ValueError("must not be empty")
    if text.startswith("env:") and not text[4:].replace("_", "").isalnum():
        raise ValueError("env: must be followed by an environment variable name")
    return SecretStr(text)


def _http_url(value: str) -> str:
    value = value.strip().rstrip("/")
    if not value.startswith(("http://", "https://")) or len(value) < 10:
        raise ValueError("must be an http:// or https:// URL")
    return value


NonEmptyStr = Annotated[str, Field(min_length=1)]


class SegmentFilters(BaseModel):
    """Custom sync options of the seed. Values within one filter are alternatives (OR); filters
    combine with AND. An empty filter lets every contact through."""

    model_config = ConfigDict(extra="forbid")
    email_domains: list[NonEmptyStr] = []
    landing_page_urls: list[NonEmptyStr] = []
    """A full landing-page URL or any portion of one."""
    landing_page_domains: list[NonEmptyStr] = []
    states: list[NonEmptyStr] = []
    referrer_urls: list[NonEmptyStr] = []

    @field_validator("email_domains", "landing_page_domains", "states", mode="after")
    @classmethod
    def _lower(cls, values: list[str]) -> list[str]:
        return [v.strip().lower() for v in values]

    def is_empty(self) -> bool:
        return not any(
            (
                self.email_domains,
                self.landing_page_urls,
                self.landing_page_domains,
                self.states,
                self.referrer_urls,
            )
        )


class SegmentSettings(BaseModel):
    """A Segment HTTP API source fed with Grow contacts and Reclaim events."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["segment"] = "segment"
    write_key: SecretStr
    """The source's Write Key, or `env:NAME`."""
    endpoint: str = SEGMENT_ENDPOINTS["us"]
    """API host; `us`, `eu` or a full URL (the sandbox)."""
    grow: bool = True
    """Send contacts as `identify`."""
    reclaim: bool = True
    """Send events as `track`."""
    group_id: str | None = None
    """Applied to every Grow contact as `traits.group_id`, and as `context.groupId`."""
    suppression: bool = True
    """Skip contacts on the suppression list (known contacts)."""
    revenue_metric: str | None = None
    """The event property that carries revenue, sent as `properties.revenue`."""
    reclaim_events: list[NonEmptyStr] = []
    """Event names Reclaim sends; empty means every event."""
    schedule_minutes: int = Field(default=15, ge=1, le=1440)
    filters: SegmentFilters = SegmentFilters()

    @field_validator("write_key")
    @classmethod
    def _write_key(cls, value: SecretStr) -> SecretStr:
        return _check_secret(value)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return SEGMENT_ENDPOINTS.get(value.strip().lower()) or _http_url(value)

    @field_validator("group_id", "revenue_metric")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


class ResciExport(BaseModel):
    """The Export Audiences job: which audience, and contact field -> ReSci user field."""

    model_config = ConfigDict(extra="forbid")
    audience: NonEmptyStr
    fields: dict[str, str]
    """Console contact field -> ReSci user field; at least one."""
    exit_mode: Literal["attribute", "unsubscribe"] = "attribute"
    """How a user who leaves the audience is told: membership attribute false, or
    `date_unsubscribed` set."""

    @field_validator("fields")
    @classmethod
    def _fields(cls, fields: dict[str, str]) -> dict[str, str]:
        if not fields:
            raise ValueError("map at least one contact field onto a ReSci user field")
        seen: dict[str, str] = {}
        for source, target in fields.items():
            if source not in CONTACT_FIELDS:
                raise ValueError(f"unknown contact field {source!r}")
            target = target.strip()
            if not target:
                raise ValueError(f"{source!r} is mapped onto nothing")
            if target in RESCI_ALWAYS_SENT:
                raise ValueError(f"{target!r} is always sent; map {source!r} onto another field")
            if target in seen:
                raise ValueError(f"{seen[target]!r} and {source!r} are both mapped onto {target!r}")
            seen[target] = source
        return {source: target.strip() for source, target in fields.items()}


class ResciSettings(BaseModel):
    """A Retention Science account: API key authorization, Site ID, export and event mapping."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["resci"] = "resci"
    api_key: SecretStr
    """ReSci Data API key, or `env:NAME`."""
    api_key_label: NonEmptyStr = "ReSci API key"
    api_key_description: str | None = None
    endpoint: str = RESCI_DEFAULT_ENDPOINT
    site_id: str | None = None
    """ReSci Site ID (a small integer)."""
    on_site: bool = False
    """Enable On-Site: deliver mapped events and offer the on-site tag."""
    schedule_minutes: int = Field(default=15, ge=1, le=1440)
    export: ResciExport | None = None
    events: dict[str, str] = {}
    """Custom event name -> ReSci reserved event."""

    @field_validator("api_key")
    @classmethod
    def _api_key(cls, value: SecretStr) -> SecretStr:
        return _check_secret(value)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("site_id", mode="before")
    @classmethod
    def _site_id(cls, value: object) -> str | None:
        if value is None or str(value).strip() == "":
            return None
        text = str(value).strip()
        if not text.isdigit():
            raise ValueError("a ReSci Site ID is a number")
        return text

    @field_validator("events")
    @classmethod
    def _events(cls, events: dict[str, str]) -> dict[str, str]:
        for custom, reserved in events.items():
            if not custom.strip():
                raise ValueError("a custom event name must not be empty")
            if custom.strip() in RESCI_RESERVED_EVENTS:
                raise ValueError(
                    f"{custom!r} is a ReSci reserved event and cannot be used as a custom event; "
                    "map a custom event onto it instead"
                )
            if reserved not in RESCI_RESERVED_EVENTS:
                raise ValueError(
                    f"{custom!r} is mapped onto {reserved!r}, which is not a ReSci reserved event "
                    f"({', '.join(RESCI_RESERVED_EVENTS)})"
                )
        return {custom.strip(): reserved for custom, reserved in events.items()}

    @model_validator(mode="after")
    def _on_site_needs_site(self) -> ResciSettings:
        if self.on_site and not self.site_id:
            raise ValueError("Enable On-Site needs a Site ID")
        return self


DestinationSettings = SegmentSettings | ResciSettings
SETTINGS_BY_KIND: dict[str, type[SegmentSettings] | type[ResciSettings]] = {
    "segment": SegmentSettings,
    "resci": ResciSettings,
}


def settings_to_json(settings: DestinationSettings) -> str:
    """JSON for the `destinations.settings` column, secrets included (the file is 0600)."""
    data = settings.model_dump(mode="python")
    for name, value in list(data.items()):
        if isinstance(value, SecretStr):
            data[name] = value.get_secret_value()
    return orjson.dumps(data).decode()


def settings_from_json(kind: str, text: str) -> DestinationSettings:
    return SETTINGS_BY_KIND[kind].model_validate_json(text)
