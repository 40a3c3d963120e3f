"""Changes to a destination's mappings, each validated as a whole by the kind's settings model.

They work on the settings fields a kind's capabilities promise (`export` for an audience
export, `events` for event mapping, `reclaim_events` and `revenue_metric` for event selection),
whatever the kind; the kind's model keeps its own rules (reserved names, always-sent fields).

Every function returns new settings or raises ValueError with the reason in plain words (the
operator sees it as is), so the refusal rules live in one place and are tested without Textual.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from console.config import validation_message
from console.destinations import registry

# A kind's settings model; the fields used are the ones its capabilities promise.
Settings = Any


def _rebuild(settings: BaseModel, **changes: Any) -> Any:
    data = settings.model_dump()
    data.update(changes)
    try:
        return type(settings).model_validate(data)
    except ValidationError as exc:
        raise ValueError(validation_message(exc)) from None


def add_user_field(settings: Settings, source: str, target: str) -> Settings:
    """Map a console contact field onto one of the destination's user fields; one field each
    way."""
    label = registry.kind_of(settings).label
    if settings.export is None:
        raise ValueError("no audience is exported: choose one first (u)")
    _chosen(source, target, label)
    fields = dict(settings.export.fields)
    if source in fields:
        raise ValueError(f"{source} is already mapped onto {fields[source]}; remove that first")
    for other, existing in fields.items():
        if existing == target:
            raise ValueError(f"{target} already receives {other}: a {label} field takes one field")
    fields[source] = target
    export = settings.export.model_dump() | {"fields": fields}
    return _rebuild(settings, export=export)


def remove_user_field(settings: Settings, source: str) -> Settings:
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


def _chosen(source: str, target: str, label: str) -> None:
    """Both sides of a field mapping picked (an empty Select gives "")."""
    if not source.strip():
        raise ValueError("choose the console field to send")
    if not target.strip():
        raise ValueError(f"choose the {label} user field that receives it")


def set_export(
    settings: Settings, audience: str | None, first_fields: dict[str, str] | None = None
) -> Settings:
    """Export `audience` (keeping the fields already mapped), or stop exporting (None).

    There are no default fields (seed 001): an export that maps nothing yet needs the
    operator's first field(s) in `first_fields`, else it is refused with that reason."""
    if audience is None:
        return _rebuild(settings, export=None)
    if settings.export:
        fields = dict(settings.export.fields)
    else:
        fields = dict(first_fields or {})
        label = registry.kind_of(settings).label
        if not fields:
            raise ValueError(
                f"at least one user field is needed: map a console field onto a {label} "
                "user field to export the audience"
            )
        for source, target in fields.items():
            _chosen(source, target, label)
    exit_mode = settings.export.exit_mode if settings.export else "attribute"
    return _rebuild(
        settings, export={"audience": audience, "fields": fields, "exit_mode": exit_mode}
    )


def add_event(settings: Settings, custom: str, reserved: str) -> Settings:
    """Map a custom event onto one of the destination's reserved events."""
    custom = custom.strip()
    if not custom:
        raise ValueError("type the custom event's name")
    declared = registry.kind_of(settings)
    if custom.lower() in declared.capabilities.reserved_events:
        # Said here in plain words; the model refuses it too, in a field-prefixed message.
        raise ValueError(
            f"{custom!r} is a {declared.label} reserved event and cannot be used as a custom "
            "event; map a custom event onto it instead"
        )
    if custom in settings.events:
        raise ValueError(f"{custom} is already mapped onto {settings.events[custom]}")
    return _rebuild(settings, events={**settings.events, custom: reserved})


def remove_event(settings: Settings, custom: str) -> Settings:
    return _rebuild(settings, events={k: v for k, v in settings.events.items() if k != custom})


def add_reclaim_event(settings: Settings, name: str) -> Settings:
    """Send this event name with Reclaim (an empty list sends every event)."""
    name = name.strip()
    if not name:
        raise ValueError("type the event's name")
    if name in settings.reclaim_events:
        raise ValueError(f"{name} is already sent")
    return _rebuild(settings, reclaim_events=[*settings.reclaim_events, name])


def remove_reclaim_event(settings: Settings, name: str) -> Settings:
    return _rebuild(settings, reclaim_events=[e for e in settings.reclaim_events if e != name])


def set_event_revenue(settings: Settings, event: str, prop: str) -> Settings:
    """Read `event`'s revenue from `prop` instead of the revenue metric; an empty `prop`
    removes the override."""
    event = event.strip()
    if not event:
        raise ValueError("type the event's name (the revenue metric, v, covers every other event)")
    overrides = {k: v for k, v in settings.revenue_by_event.items() if k != event}
    if prop.strip():
        overrides[event] = prop.strip()
    elif event not in settings.revenue_by_event:
        raise ValueError(f"{event} has no revenue property of its own; type one")
    return _rebuild(settings, revenue_by_event=overrides)


def set_revenue_metric(settings: Settings, metric: str) -> Settings:
    return _rebuild(settings, revenue_metric=metric.strip() or None)
