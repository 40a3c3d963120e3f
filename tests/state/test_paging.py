"""Keyset paging of the screens' queries: walking a listing page by page with `after=` visits
every row once, in the listing's order, for every failures sort (NULL emails included), for
History's runs and for a run's rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from console.core import clock
from state.db import Store, open_store
from state.failures import FAILURE_SORTS, failure_position, failures_page, iter_failures
from state.history import run_rows_page, runs_page
from state.models import OutboxRow
from tests.ui.conftest import Clock, fill_store


@pytest.fixture
def store(tmp_path: Path) -> Any:
    moving = Clock()
    clock.set_clock(moving)
    store = open_store(tmp_path / "paging.db")
    fill_store(store, moving)
    with store.write() as conn:
        # Failures without an email (an anonymous event), and ties on every sort key.
        table = OutboxRow.__table__
        conn.execute(update(table).where(table.c.id % 7 == 0).values(email=None))
        conn.execute(update(table).where(table.c.id % 5 == 0).values(attempts=3))
    yield store
    store.dispose()
    clock.set_clock(None)


def walk(read: Callable[[Any], list[Any]], position: Callable[[Any], Any]) -> list[Any]:
    """Every row, a page of 7 at a time, each page starting past the last row of the one
    before."""
    seen: list[Any] = []
    after = None
    while True:
        page = read(after)
        assert len(page) <= 7
        seen += page
        if len(page) < 7:
            return seen
        after = position(page[-1])


@pytest.mark.parametrize("sort", list(FAILURE_SORTS))
def test_failure_pages_follow_each_other(store: Store, sort: str) -> None:
    with store.read() as conn:
        everything = list(iter_failures(conn, sort=sort))
        paged = walk(
            lambda after: failures_page(conn, limit=7, after=after, sort=sort),
            lambda row: failure_position(row, sort),
        )
    assert len(everything) > 30 and any(row.email is None for row in everything)
    assert [r.id for r in paged] == [r.id for r in everything]


def test_run_pages_and_a_runs_row_pages_follow_each_other(store: Store) -> None:
    with store.read() as conn:
        runs = runs_page(conn, limit=10_000)
        assert [r.id for r in walk(lambda a: runs_page(conn, limit=7, after=a), _id)] == [
            r.id for r in runs
        ]
        busiest = max(runs, key=lambda r: len(run_rows_page(conn, r.id, limit=10_000)))
        rows = run_rows_page(conn, busiest.id, limit=10_000)
        assert len(rows) > 7
        paged = walk(lambda a: run_rows_page(conn, busiest.id, limit=7, after=a), _id)
    assert [r.id for r in paged] == [r.id for r in rows]


def _id(row: Any) -> int:
    return int(row.id)
