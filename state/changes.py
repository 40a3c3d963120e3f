"""The change log as stored (`change_log`): one row per operator change made through the
engine's commands, with its field-level diff (JSON, secrets already masked by the writer),
when and by whom; read newest first for a destination's panel and `retention-console changes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, select

from console.core import clock
from state.models import ChangeRecord, table_of

CHANGES = table_of(ChangeRecord)


@dataclass(frozen=True)
class ChangeRow:
    changed_at: str
    changed_by: str
    subject: str
    name: str
    action: str
    diff: dict[str, Any]

    def as_json(self) -> dict[str, object]:
        return {
            "changed_at": self.changed_at,
            "changed_by": self.changed_by,
            "subject": self.subject,
            "name": self.name,
            "action": self.action,
            "diff": self.diff,
        }


def record_change(
    conn: Connection, subject: str, name: str, action: str, diff: dict[str, Any], by: str
) -> None:
    """Append one change (in the caller's transaction, so it commits with the change)."""
    conn.execute(
        CHANGES.insert().values(
            changed_at=clock.now_iso(),
            changed_by=by,
            subject=subject,
            name=name,
            action=action,
            diff=orjson.dumps(diff, option=orjson.OPT_SORT_KEYS).decode(),
        )
    )


def changes_page(
    conn: Connection,
    *,
    subject: str | None = None,
    name: str | None = None,
    since: str | None = None,
    limit: int = 100,
) -> list[ChangeRow]:
    """Changes newest first; `since` is a day (YYYY-MM-DD) or a timestamp."""
    conditions = []
    if subject is not None:
        conditions.append(CHANGES.c.subject == subject)
    if name is not None:
        conditions.append(CHANGES.c.name == name)
    if since is not None:
        conditions.append(CHANGES.c.changed_at >= since)
    stmt = (
        select(
            CHANGES.c.changed_at,
            CHANGES.c.changed_by,
            CHANGES.c.subject,
            CHANGES.c.name,
            CHANGES.c.action,
            CHANGES.c.diff,
        )
        .where(*conditions)
        .order_by(CHANGES.c.id.desc())
        .limit(limit)
    )
    return [
        ChangeRow(r.changed_at, r.changed_by, r.subject, r.name, r.action, orjson.loads(r.diff))
        for r in conn.execute(stmt)
    ]
