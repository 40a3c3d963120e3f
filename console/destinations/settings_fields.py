"""Settings fields that several kinds share, declared once with their form hints (see `kind.py`),
so a kind's settings model names them instead of repeating their bounds, labels and checks."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field


def _blank_is_none(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


NonEmptyStr = Annotated[str, Field(min_length=1)]
OptionalText = Annotated[str | None, AfterValidator(_blank_is_none)]
"""Free text where blank means "not set"."""

ScheduleMinutes = Annotated[
    int,
    Field(
        ge=1,
        le=1440,
        title="Schedule (minutes)",
        json_schema_extra={
            "section": "General",
            "invalid": "a whole number of minutes from 1 to 1440",
        },
    ),
]
RevenueMetric = Annotated[
    OptionalText,
    Field(
        title="Revenue metric",
        description="The event property that carries revenue, sent as `properties.revenue`.",
        json_schema_extra={"placeholder": "event property carrying revenue, e.g. Price"},
    ),
]
EventNames = Annotated[
    list[NonEmptyStr],
    Field(
        title="Reclaim events",
        description="Event names sent; empty means every event.",
        # Edited on the Mapping screen, which lists the store's event names to pick from.
        json_schema_extra={"form": "hidden"},
    ),
]
EmailDomains = Annotated[
    list[NonEmptyStr],
    Field(title="Email domains", json_schema_extra={"placeholder": "gmail.com, yahoo.com"}),
]
