"""Changes to a destination's mappings, each validated as a whole by the kind's settings model.

Every function returns new settings or raises ValueError with the reason in plain words (the
operator sees it as is), so the refusal rules live in one place and are tested without Textual.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from console.config import validation_message
from state.settings import RESCI_RESERVED_EVENTS, ResciSettings, SegmentSettings


def _rebuild(settings: ResciSettings | SegmentSettings, **changes: Any) -> Any:
    data = settings.model_dump()
    data.update(changes)
    try:
        return type(settings).model_validate(data)
    except ValidationError as exc:
        raise ValueError(validation_message(exc)) from None


def add_user_field(settings: ResciSettings, source: str, target: str) -> ResciSettings:
    """Map a console contact field onto a ReSci user field; one field each way."""
    if settings.export is None:
        raise ValueError("no audience is exported: choose one first (u)")
    fields = dict(settings.export.fields)
    if source in fields:
        raise ValueError(f"{source} is already mapped onto {fields[source]}; remove that first")
    for other, existing in fields.items():
        if existing == target:
            raise ValueError(f"{target} already receives {other}: a ReSci field takes one field")
    fields[source] = target
    export = settings.export.model_dump() | {"fields": fields}
    return _rebuild(settings, export=export)


def remove_user_field(settings: ResciSettings, source: str) -> ResciSettings:
    if settings.export is None or source not in settings.export.fields:
        raise ValueError(f"{source} is not mapped")
    fields = {k: v for k, v in settings.export.fields.items() if k != source}
    if not fields:
        raise ValueError(
            f"at least one user field must stay mapped while {settings.export.audience} is "
            "exported; add another before removing this one"
        )
    export = settings.export.model_dump() | {"fields": fields}
    return _rebuild(settings, export=export)


def set_export(
    settings: ResciSettings, audience: str | None, default_fields: dict[str, str]
) -> ResciSettings:
    """Export `audience` (keeping the fields already mapped), or stop exporting (None)."""
    if audience is None:
        return _rebuild(settings, export=None)
    fields = dict(settings.export.fields) if settings.export else dict(default_fields)
    exit_mode = settings.export.exit_mode if settings.export else "attribute"
    return _rebuild(
        settings, export={"audience": audience, "fields": fields, "exit_mode": exit_mode}
    )


def add_event(settings: ResciSettings, custom: str, reserved: str) -> ResciSettings:
    """Map a custom event onto one reserved ReSci event."""
    custom = custom.strip()
    if not custom:
        raise ValueError("type the custom event's name")
    if custom in RESCI_RESERVED_EVENTS:
        raise ValueError(
            f"{custom!r} is a ReSci reserved event and cannot be used as a custom event; "
            "map a custom event onto it instead"
        )
    if custom in settings.events:
        raise ValueError(f"{custom} is already mapped onto {settings.events[custom]}")
    return _rebuild(settings, events={**settings.events, custom: reserved})


def remove_event(settings: ResciSettings, custom: str) -> ResciSettings:
    return _rebuild(settings, events={k: v for k, v in settings.events.items() if k != custom})


def add_reclaim_event(settings: SegmentSettings, name: str) -> SegmentSettings:
    """Send this event name with Reclaim (an empty list sends every event)."""
    name = name.strip()
    if not name:
        raise ValueError("type the event's name")
    if name in settings.reclaim_events:
        raise ValueError(f"{name} is already sent")
    return _rebuild(settings, reclaim_events=[*settings.reclaim_events, name])


def remove_reclaim_event(settings: SegmentSettings, name: str) -> SegmentSettings:
    return _rebuild(settings, reclaim_events=[e for e in settings.reclaim_events if e != name])


def set_revenue_metric(settings: SegmentSettings, metric: str) -> SegmentSettings:
    return _rebuild(settings, revenue_metric=metric.strip() or None)
