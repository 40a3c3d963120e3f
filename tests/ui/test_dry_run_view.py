"""`P` on Destinations: the dry run of the highlighted destination (issue 12, item 1), as a
snapshot and through Pilot: counts, samples shown as data, nothing written."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
from textual.pilot import Pilot
from textual.widgets import Static

from console.ingest import import_contacts
from console.ui.screens.dry_run import DryRunScreen
from state.db import Store
from tests.ui.conftest import RESCI, SEGMENT, SEGMENT_KEY, AppFactory, contact
from tests.ui.test_snapshots import BIG, keys, on_destination, settle


def add_contacts(store: Store, tmp_path: Path, count: int = 6) -> None:
    """Contacts past the destinations' cursors; one carries markup and an escape sequence."""
    rows = []
    for n in range(count):
        row = {k: v for k, v in contact(n).items() if k not in {"content_hash", "anonymous_id"}}
        if n == 0:
            row["first_name"] = "[@click=app.quit]Ann\x1b[2J"
        rows.append(row)
    path = tmp_path / "contacts.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    report = import_contacts(store, path)
    assert report.rejected == 0, report.errors


def dump(store: Store) -> list[str]:
    assert store.path is not None
    with sqlite3.connect(store.path) as conn:
        return list(conn.iterdump())


def test_dry_run_view(snap_compare, ui_app: AppFactory, ui_store: Store, tmp_path: Path) -> None:
    """P on segment-prod: would send the two rows queued today and the new contacts that pass
    the domain filter; the first payloads as they would leave, markup shown as typed."""
    add_contacts(ui_store, tmp_path)

    async def run_before(pilot: Pilot[None]) -> None:
        await on_destination(pilot, SEGMENT)
        await keys(pilot, "P")

    assert snap_compare(ui_app(), terminal_size=BIG, run_before=run_before)


async def test_dry_run_writes_nothing_and_shows_payloads_as_data(
    ui_app: AppFactory, ui_store: Store, tmp_path: Path
) -> None:
    add_contacts(ui_store, tmp_path)
    before = dump(ui_store)
    app = ui_app()
    async with app.run_test(size=BIG) as pilot:
        await on_destination(pilot, SEGMENT)
        await keys(pilot, "P")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DryRunScreen)
        shown = str(screen.query_one("#dry-run-plan", Static).render())
        assert shown.startswith("segment-prod (Segment): would send 6 - 4 new, 2 queued already")
        assert "[@click=app.quit]Ann\\u001b[2J" in shown
        assert "\x1b" not in shown and SEGMENT_KEY not in shown
        await keys(pilot, "escape")
        assert not isinstance(app.screen, DryRunScreen)
        await on_destination(pilot, RESCI)
        await keys(pilot, "P")
        shown = str(app.screen.query_one("#dry-run-plan", Static).render())
        assert "backfill: an import job of 1 user of 'california-gmail' × 2 mapped fields" in shown
    assert dump(ui_store) == before
