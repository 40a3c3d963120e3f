"""Alerts on a change of state, once: when a run leaves its destination failing (the run
ended in error, more rows refused than `failures_above`, the destination unhealthy, an import
job past its limit) and once when it recovers; never again while the state holds.

The decision is made inside the transaction that closes the run (`state.alerts`, a conditional
update), so the console's engine and cron runs on one store alert a change once between them,
and a restart remembers it. Sending happens after that transaction: a channel that fails is
noted on the run and logged; it never stops a delivery.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import ValidationError

from console.core import clock
from console.core.vocab import RunStatus
from console.engine.alert_channels import Alert, send_alert
from console.engine.alert_settings import AlertSettings
from console.engine.destinations import DestinationRecord, get_destination
from console.engine.runs import RunCounts
from state.alerts import change_alert_state, load_alert_config
from state.db import Connection

log = logging.getLogger("retention_console.engine")


def load_alert_settings(conn: Connection) -> AlertSettings | None:
    """The applied `[alerts]` section (None: none applied, or one this release cannot read,
    which is logged)."""
    text = load_alert_config(conn)
    if text is None:
        return None
    try:
        return AlertSettings.model_validate_json(text)
    except ValidationError:
        log.error("the stored [alerts] settings cannot be read; apply them again")
        return None


def failing_reason(
    status: str,
    message: str,
    counts: RunCounts,
    destination: DestinationRecord | None,
    failures_above: int,
) -> str | None:
    """Why the destination is failing after this run (None: it is not)."""
    if counts.attention:
        return ", ".join(counts.attention)
    if status == RunStatus.FAILED:
        return message or "the run failed"
    if counts.rejected > failures_above:
        return f"{counts.rejected} rows refused in one run (more than {failures_above})"
    if destination is not None and not destination.healthy:
        return destination.health_note or "unhealthy"
    return None


@dataclass(frozen=True)
class PendingAlert:
    settings: AlertSettings
    alert: Alert


def decide(
    conn: Connection,
    destination_id: int,
    run_id: int,
    status: str,
    message: str,
    counts: RunCounts,
    queued: int,
) -> PendingAlert | None:
    """Called in the transaction that closed the run: record the destination's alert state and
    return the alert to send when this run changed it (and a channel is configured)."""
    settings = load_alert_settings(conn) or AlertSettings()
    destination = get_destination(conn, destination_id)
    reason = failing_reason(status, message, counts, destination, settings.failures_above)
    failing = reason is not None
    if not change_alert_state(conn, destination_id, failing=failing, reason=reason, run_id=run_id):
        return None
    if destination is None or not settings.channels:
        return None
    alert = Alert(
        destination=destination.name,
        kind=destination.kind,
        failing=failing,
        reason=reason,
        run_id=run_id,
        status=status,
        delivered=counts.delivered,
        failed=counts.rejected,
        queued=queued,
        at=clock.now_iso(),
    )
    return PendingAlert(settings, alert)


async def send(pending: PendingAlert, timeout_seconds: float) -> list[str]:
    """Send the alert; returns the channels' problems (logged here)."""
    problems = await send_alert(pending.settings, pending.alert, timeout_seconds)
    for problem in problems:
        log.warning("%s: %s", pending.alert.destination, problem)
    if not problems:
        log.info("%s: alerted (%s)", pending.alert.destination, pending.alert.text)
    return problems
