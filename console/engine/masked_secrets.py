"""Masked secrets coming back: a file exported without --include-secrets carries `••••1234`
where a key was. A mask keeps the stored secret it stands for; a mask that stands for none is
refused, since there is no key to keep."""

from __future__ import annotations

from pydantic import BaseModel, SecretStr

from console.core.secrets import is_masked, mask_secret, secret_fields
from console.engine.alert_settings import AlertSettings
from console.engine.alerts import load_alert_settings
from console.engine.destinations import get_destination
from console.engine.refusals import CommandRefused
from state.db import Connection


def unmask_destination_secrets(conn: Connection, name: str, settings: BaseModel) -> BaseModel:
    """A masked secret keeps the stored key it stands for, instead of being saved as the key.
    A mask that stands for no stored key is refused, since there is no key to keep."""
    # Secrets are found by their type (`SecretStr`), whatever the kind names them.
    for field_name in secret_fields(type(settings)):
        secret = getattr(settings, field_name, None)
        if not isinstance(secret, SecretStr) or not is_masked(secret.get_secret_value()):
            continue
        existing = get_destination(conn, name)
        stored = getattr(existing.settings, field_name, None) if existing else None
        if stored is None or mask_secret(stored) != secret.get_secret_value():
            raise CommandRefused(
                "is masked (exported without --include-secrets) and matches no stored key; "
                "put the key back or use env:NAME",
                destination=name,
                field=field_name,
            )
        settings = settings.model_copy(update={field_name: stored})
    return settings


ALERTS_SECTION = "[alerts]"


def unmask_alert_secrets(conn: Connection, alerts: AlertSettings) -> AlertSettings:
    """The alert channels' masked secrets keep the stored secrets they stand for."""
    stored = load_alert_settings(conn)
    for channel_name in ("http", "email"):
        channel = getattr(alerts, channel_name)
        if channel is None:
            continue
        for field_name in secret_fields(type(channel)):
            secret = getattr(channel, field_name)
            if not isinstance(secret, SecretStr) or not is_masked(secret.get_secret_value()):
                continue
            old_channel = getattr(stored, channel_name, None) if stored else None
            kept = getattr(old_channel, field_name, None) if old_channel else None
            if kept is None or mask_secret(kept) != secret.get_secret_value():
                raise CommandRefused(
                    "is masked (exported without --include-secrets) and matches no stored "
                    "secret; put it back or use env:NAME",
                    destination=ALERTS_SECTION,
                    field=f"{channel_name}.{field_name}",
                )
            channel = channel.model_copy(update={field_name: kept})
        alerts = alerts.model_copy(update={channel_name: channel})
    return alerts
