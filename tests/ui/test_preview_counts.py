"""Live counts (issue 12, item 2) under the destination form and on Mapping: what the settings
as they stand would send from the first row on, recounted as values change, off the UI thread."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, Select

from console.ui.widgets.preview_counts import DEBOUNCE_SECONDS, PreviewCounts
from state.db import Store
from tests.ui.conftest import RESCI, SEGMENT, AppFactory
from tests.ui.test_dry_run_view import add_contacts
from tests.ui.test_snapshots import BIG, keys, on_destination, settle


async def counted(pilot: Pilot[None], widget: PreviewCounts, after: int) -> str:
    """The counts once a count newer than `after` shows."""
    for _ in range(50):
        await pilot.pause(DEBOUNCE_SECONDS / 4)
        await settle(pilot)
        if widget.counted > after:
            return str(widget.render())
    raise AssertionError(f"no new count after {after}: {widget.render()}")


async def change_filter(pilot: Pilot[None]) -> None:
    """On segment-prod's form: keep only Californians (3 of the 6 contacts' states)."""
    pilot.app.screen.query_one("#f-filters-states", Input).value = "ca"


def test_form_with_counts(
    snap_compare, ui_app: AppFactory, ui_store: Store, tmp_path: Path
) -> None:
    """segment-prod's form after the state filter was set to CA: the counts above the fields
    follow (1 identify of 6 contacts: the others are filtered out)."""
    add_contacts(ui_store, tmp_path)

    async def run_before(pilot: Pilot[None]) -> None:
        await on_destination(pilot, SEGMENT)
        await keys(pilot, "e")
        widget = pilot.app.screen.query_one(PreviewCounts)
        first = widget.counted
        await change_filter(pilot)
        await counted(pilot, widget, first)

    assert snap_compare(ui_app(), terminal_size=BIG, run_before=run_before)


async def test_counts_follow_the_form_and_the_audience(
    ui_app: AppFactory, ui_store: Store, tmp_path: Path
) -> None:
    add_contacts(ui_store, tmp_path)
    app = ui_app()
    async with app.run_test(size=BIG) as pilot:
        await on_destination(pilot, SEGMENT)
        await keys(pilot, "e")
        widget = app.screen.query_one(PreviewCounts)
        shown = await counted(pilot, widget, 0)
        # gmail and yahoo pass the domain filter: 4 of the 6 contacts.
        assert "6 rows (4 identify, 2 track)" not in shown and "4 identify" in shown, shown
        assert "2 filtered out" in shown
        await change_filter(pilot)
        shown = await counted(pilot, widget, widget.counted)
        assert "1 identify" in shown and "5 filtered out" in shown, shown
        app.screen.query_one("#f-schedule_minutes", Input).value = "0"
        await pilot.pause(DEBOUNCE_SECONDS)
        assert "counted once the fields marked are fixed" in str(widget.render())
        await keys(pilot, "escape")

        # ReSci: the audience chosen in the form sizes the backfill at once.
        await on_destination(pilot, RESCI)
        await keys(pilot, "e")
        widget = app.screen.query_one(PreviewCounts)
        shown = await counted(pilot, widget, 0)
        assert "a backfill sends 1 user of 'california-gmail' × 2 fields" in shown, shown
        app.screen.query_one("#f-export_audience", Select).value = "vip-customers"
        shown = await counted(pilot, widget, widget.counted)
        assert "a backfill sends 0 users of 'vip-customers'" in shown, shown
        await keys(pilot, "escape")

        # Mapping shows the same counts for the stored settings.
        await keys(pilot, "m")
        widget = app.screen.query_one(PreviewCounts)
        assert "a backfill sends 1 user of 'california-gmail' × 2 fields" in str(widget.render())
