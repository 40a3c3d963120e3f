"""The ReSci kind: an audience exported as an import job, then real-time user updates and
mapped events.

Its planner and poller still read the store themselves (`console/engine/resci_driver.py`); they
are referenced here through small wrappers that import the driver when first called, so this
package imports nothing of the engine or the store at import time.
"""

from __future__ import annotations

from typing import Any

from console.core.secrets import mask_secret, resolve_secret
from console.destinations.base import DestinationAdapter
from console.destinations.kind import Capabilities, DestinationKind
from console.destinations.resci.adapter import ResciAdapter
from console.destinations.resci.settings import (
    RESCI_ALWAYS_SENT,
    RESCI_RESERVED_EVENTS,
    RESCI_USER_FIELDS,
    ResciSettings,
)


def _adapter(settings: ResciSettings) -> DestinationAdapter:
    return ResciAdapter(
        settings.endpoint,
        resolve_secret(settings.api_key),
        settings.site_id,
        key_label=settings.api_key_label,
    )


def _describe(settings: ResciSettings) -> list[tuple[str, str]]:
    # One (label, value) pair a panel line, shown as `label value`.
    export = settings.export
    events = ", ".join(f"{c} → {r}" for c, r in settings.events.items()) or "none"
    return [
        (
            settings.api_key_label,
            mask_secret(settings.api_key)
            + (f" ({settings.api_key_description})" if settings.api_key_description else "")
            + f" · endpoint {settings.endpoint}",
        ),
        (
            "Site ID",
            f"{settings.site_id or '—'} · on-site {'on' if settings.on_site else 'off'} · "
            + (
                f"exports audience {export.audience} ({len(export.fields)} fields, exit as "
                f"{export.exit_mode})"
                if export
                else "no audience export"
            ),
        ),
        ("Events:", events),
    ]


def _plan(*args: Any) -> None:
    from console.engine import resci_driver  # the driver imports the store: only when run

    resci_driver.plan_resci(*args)


async def _poll(*args: Any) -> bool:
    from console.engine import resci_driver

    return await resci_driver.poll_resci(*args)


KIND = DestinationKind(
    name="resci",
    label="ReSci",
    summary="Retention Science: audience export and mapped events",
    settings_model=ResciSettings,
    capabilities=Capabilities(
        events=True,
        event_mapping=True,
        reserved_events=RESCI_RESERVED_EVENTS,
        audience_export=True,
        user_fields=RESCI_USER_FIELDS,
        always_sent=RESCI_ALWAYS_SENT,
        import_jobs=True,
    ),
    adapter=_adapter,
    describe=_describe,
    planner=_plan,
    poller=_poll,
)
