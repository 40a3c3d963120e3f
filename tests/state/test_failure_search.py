"""The Failures search (`/` on the screen, `retry --search`) matches its text literally: `_`
and `%` in an address are characters, not SQL wildcards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from console.core import clock
from state.db import Store, open_store
from state.failures import FailureFilter, failure_ids
from state.models import OutboxRow
from tests.ui.conftest import Clock, fill_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    moving = Clock()
    clock.set_clock(moving)
    store = open_store(tmp_path / "search.db")
    fill_store(store, moving)
    table = OutboxRow.__table__
    with store.write() as conn:
        failed = sorted(failure_ids(conn, FailureFilter()))[:3]
        for row_id, email in zip(
            failed,
            ("john_doe@example.com", "johnxdoe@example.com", "ann%50@example.com"),
            strict=True,
        ):
            conn.execute(update(table).where(table.c.id == row_id).values(email=email))
    yield store
    store.dispose()
    clock.set_clock(None)


@pytest.mark.parametrize(
    ("text", "count"),
    [("john_doe", 1), ("JOHN_DOE", 1), ("john", 2), ("ann%50", 1), ("%", 1), ("_", 1)],
)
def test_search_is_literal(store: Store, text: str, count: int) -> None:
    with store.read() as conn:
        assert len(failure_ids(conn, FailureFilter(text=text))) == count
