"""Authorizations as stored: reusable API keys chosen by name by several destinations. The
destinations name them in their settings (JSON the store does not read), so who uses one is
the caller's question (`console.engine.authorizations`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, select, update

from console.core import clock
from state.models import Authorization, inserted_id, table_of

AUTHORIZATIONS = table_of(Authorization)


@dataclass(frozen=True)
class AuthorizationRecord:
    id: int
    label: str
    description: str | None
    api_key: str
    """The key itself or `env:NAME`: never shown, logged or exported unmasked."""
    created_at: str
    updated_at: str


def _record(row: object) -> AuthorizationRecord:
    return AuthorizationRecord(
        row.id,  # type: ignore[attr-defined]
        row.label,  # type: ignore[attr-defined]
        row.description,  # type: ignore[attr-defined]
        row.api_key,  # type: ignore[attr-defined]
        row.created_at,  # type: ignore[attr-defined]
        row.updated_at,  # type: ignore[attr-defined]
    )


def list_authorizations(conn: Connection) -> list[AuthorizationRecord]:
    return [
        _record(row)
        for row in conn.execute(select(AUTHORIZATIONS).order_by(AUTHORIZATIONS.c.label))
    ]


def get_authorization(conn: Connection, label: str) -> AuthorizationRecord | None:
    row = conn.execute(select(AUTHORIZATIONS).where(AUTHORIZATIONS.c.label == label)).first()
    return _record(row) if row else None


def save_authorization(
    conn: Connection, label: str, api_key: str, description: str | None = None
) -> tuple[int, bool]:
    """Create or update by label; returns (id, created)."""
    now = clock.now_iso()
    existing = get_authorization(conn, label)
    if existing is None:
        result = conn.execute(
            AUTHORIZATIONS.insert().values(
                label=label,
                description=description,
                api_key=api_key,
                created_at=now,
                updated_at=now,
            )
        )
        return inserted_id(result), True
    conn.execute(
        update(AUTHORIZATIONS)
        .where(AUTHORIZATIONS.c.id == existing.id)
        .values(description=description, api_key=api_key, updated_at=now)
    )
    return existing.id, False


def delete_authorization(conn: Connection, label: str) -> bool:
    result = conn.execute(delete(AUTHORIZATIONS).where(AUTHORIZATIONS.c.label == label))
    return bool(result.rowcount)
