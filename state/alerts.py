"""Alerts as stored: the applied `[alerts]` configuration (`alert_config`, one row) and each
destination's alert state (`alert_states`).

A change of state is decided by a conditional update inside the transaction that closes the
run: the row moves from healthy to failing (or back) only if it was not already there, and
only the engine whose update changed it sends the alert. Two engines (the console's and a cron
run) can therefore never both send the same alert, and a restart keeps the state.
"""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from console.core import clock
from state.db import conflict_insert
from state.models import AlertConfig, AlertState, table_of

CONFIG = table_of(AlertConfig)
STATES = table_of(AlertState)


def load_alert_config(conn: Connection) -> str | None:
    """The applied `[alerts]` settings as JSON text (None: never applied)."""
    return conn.execute(select(CONFIG.c.settings).where(CONFIG.c.id == 1)).scalar()


def save_alert_config(conn: Connection, settings: str) -> None:
    insert = conflict_insert(conn, CONFIG).values(
        id=1, settings=settings, updated_at=clock.now_iso()
    )
    conn.execute(
        insert.on_conflict_do_update(
            index_elements=[CONFIG.c.id],
            set_={"settings": insert.excluded.settings, "updated_at": insert.excluded.updated_at},
        )
    )


def change_alert_state(
    conn: Connection, destination_id: int, *, failing: bool, reason: str | None, run_id: int | None
) -> bool:
    """Record the destination as failing (or not); True only when this call changed it (the
    caller then sends the one alert for the change). A destination never recorded counts as
    healthy."""
    now = clock.now_iso()
    conn.execute(
        conflict_insert(conn, STATES)
        .values(destination_id=destination_id, failing=False, changed_at=now)
        .on_conflict_do_nothing(index_elements=[STATES.c.destination_id])
    )
    changed = conn.execute(
        update(STATES)
        .where(STATES.c.destination_id == destination_id, STATES.c.failing.is_not(failing))
        .values(failing=failing, reason=reason, changed_at=now, run_id=run_id)
    )
    return bool(changed.rowcount)
