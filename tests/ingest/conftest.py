"""Fixtures for the ingest tests: a fresh store, a frozen clock, files written on demand, and
snapshots of what the store holds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from console.core import clock
from state.db import Store, open_store
from state.models import Contact, Event, Suppression

FROZEN = datetime(2024, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC)
FROZEN_ISO = "2024-05-01T12:00:00.250Z"

WriteFile = Callable[[str, "str | bytes | list[Any]"], Path]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh, empty store in the test's temporary directory."""
    opened = open_store(tmp_path / "t.db")
    yield opened
    opened.dispose()


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[None]:
    """Imports stamp missing created_at with the clock: freeze it so tests can compare."""
    clock.set_clock(lambda: FROZEN)
    yield
    clock.set_clock(None)


@pytest.fixture
def write_file(tmp_path: Path) -> WriteFile:
    """`write_file(name, content)`: text is written as UTF-8, bytes as given, and a list as
    JSONL (one orjson line per item). Returns the path."""

    def write(name: str, content: str | bytes | list[Any]) -> Path:
        path = tmp_path / name
        if isinstance(content, list):
            path.write_bytes(b"".join(orjson.dumps(item) + b"\n" for item in content))
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_bytes(content.encode("utf-8"))
        return path

    return write


def contacts_by_email(store: Store) -> dict[str, dict[str, Any]]:
    """Every stored contact as a dict, keyed by email."""
    with store.read() as conn:
        rows = conn.execute(select(Contact.__table__)).mappings().all()
    return {row["email"]: dict(row) for row in rows}


def events_by_id(store: Store) -> dict[str, dict[str, Any]]:
    """Every stored event as a dict, keyed by message_id."""
    with store.read() as conn:
        rows = conn.execute(select(Event.__table__).order_by(Event.__table__.c.seq))
        return {row["message_id"]: dict(row) for row in rows.mappings()}


def suppression_set(store: Store) -> set[str]:
    """Every stored suppression MD5."""
    with store.read() as conn:
        return set(conn.scalars(select(Suppression.__table__.c.email_md5)))
