"""Segment settings: a Segment HTTP API source fed with Grow contacts and Reclaim events."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from console.core.secrets import check_secret, http_url
from console.destinations.settings_fields import (
    EmailDomains,
    EventNames,
    NonEmptyStr,
    OptionalText,
    RevenueByEvent,
    RevenueMetric,
    ScheduleMinutes,
)

SEGMENT_ENDPOINTS = {"us": "https://api.segment.io", "eu": "https://events.eu1.segmentapis.com"}

URL_OR_REGION = r"(?i)\s*(us|eu|https?://.*)?\s*"


class SegmentFilters(BaseModel):
    """Custom sync options of the seed. Values within one filter are alternatives (OR); filters
    combine with AND. An empty filter lets every contact through."""

    model_config = ConfigDict(extra="forbid")
    email_domains: EmailDomains = []
    landing_page_urls: list[NonEmptyStr] = Field(
        default=[],
        title="Landing page URLs",
        description="A full landing-page URL or any portion of one.",
        json_schema_extra={"placeholder": "full URL or any part of one"},
    )
    landing_page_domains: list[NonEmptyStr] = Field(
        default=[],
        title="Landing page domains",
        json_schema_extra={"placeholder": "shop.example", "suggest": "landing_page_domain"},
    )
    states: list[NonEmptyStr] = Field(
        default=[],
        title="States",
        json_schema_extra={"placeholder": "CA, NY (legacy plans with address data)"},
    )
    referrer_urls: list[NonEmptyStr] = Field(
        default=[],
        title="Referrer URLs",
        json_schema_extra={"placeholder": "full URL or any part of one"},
    )

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
    write_key: SecretStr = Field(
        title="Write Key",
        description="The source's Write Key, or `env:NAME`.",
        json_schema_extra={
            "section": "Segment source",
            "placeholder": "the source's Write Key, or env:NAME",
        },
    )
    endpoint: str = Field(
        default=SEGMENT_ENDPOINTS["us"],
        title="Endpoint",
        description="API host; `us`, `eu` or a full URL (the sandbox).",
        json_schema_extra={
            "placeholder": "us, eu or a URL",
            "form_default": "us",
            "pattern": URL_OR_REGION,
            "invalid": "us, eu, or an http(s):// URL",
        },
    )
    grow: bool = Field(
        default=True,
        title="Grow",
        description="send contacts as identify",
        json_schema_extra={"section": "Grow and Reclaim"},
    )
    reclaim: bool = Field(default=True, title="Reclaim", description="send events as track")
    group_id: OptionalText = Field(
        default=None,
        title="Group ID",
        description="Applied to every Grow contact as `traits.group_id`, and as `context.groupId`.",
        json_schema_extra={"placeholder": "optional"},
    )
    suppression: bool = Field(
        default=True,
        title="Suppression",
        description="skip contacts on the suppression list",
    )
    reclaim_suppressed: bool = Field(
        default=False,
        title="Reclaim suppressed",
        description="also send the Reclaim events of suppressed contacts",
    )
    revenue_metric: RevenueMetric = None
    revenue_by_event: RevenueByEvent = {}
    reclaim_events: EventNames = []
    schedule_minutes: ScheduleMinutes = 15
    filters: SegmentFilters = Field(
        default=SegmentFilters(),
        title="Sync filters (comma separated; empty sends every contact)",
    )

    @field_validator("write_key")
    @classmethod
    def _write_key(cls, value: SecretStr) -> SecretStr:
        return check_secret(value)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return SEGMENT_ENDPOINTS.get(value.strip().lower()) or http_url(value)
