"""Settings fields that several kinds share, declared once with their form hints (see `kind.py`),
so a kind's settings model names them instead of repeating their bounds, labels and checks."""

from __future__ import annotations

from collections.abc import Mapping
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


def _per_event(values: dict[str, str]) -> dict[str, str]:
    cleaned: dict[str, str] = {}
    for event, prop in values.items():
        if not event.strip():
            raise ValueError("an event name must not be empty")
        if not prop.strip():
            raise ValueError(f"{event.strip()!r} names no revenue property")
        cleaned[event.strip()] = prop.strip()
    return cleaned


RevenueByEvent = Annotated[
    dict[str, str],
    AfterValidator(_per_event),
    Field(
        title="Revenue per event",
        description="Event name -> the property carrying its revenue; other events use the "
        "revenue metric.",
        # Edited on the Mapping screen (V), which offers the store's event names.
        json_schema_extra={"form": "hidden"},
    ),
]


def per_event_words(by_event: Mapping[str, str]) -> str:
    """`; Checkout Started: cart_amount, Viewed Product: Price`, or "" when there is none."""
    if not by_event:
        return ""
    return " · per event: " + ", ".join(f"{e}: {p}" for e, p in by_event.items())


def revenue_property(default: str | None, by_event: Mapping[str, str], event: str) -> str | None:
    """The property an event's revenue is read from: its own override, else the default."""
    return by_event.get(event, default)


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
    Field(
        title="Email domains",
        # Seed 002: this option fills itself from the collected contacts.
        json_schema_extra={"placeholder": "gmail.com, yahoo.com", "suggest": "email_domain"},
    ),
]
