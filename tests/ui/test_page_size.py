"""The console's page size is an app option (the `page_size` engine setting): Failures shows
that many rows a page and pages through the rest."""

from __future__ import annotations

from textual.pilot import Pilot

from console.ui.screens.failures import FailuresScreen
from console.ui.widgets.paged_table import PagedTable
from tests.ui.conftest import AppFactory

SIZE = (100, 32)


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(2):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def test_failures_pages_by_the_apps_page_size(ui_app: AppFactory) -> None:
    app = ui_app(page_size=25)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        table = screen.query_one(PagedTable)
        # The store holds 60 failures: pages of 25, 25 and 10.
        assert (len(screen.rows), table.row_count, table.has_more) == (25, 25, True)
        assert table.page_label(screen.total) == "rows 1–25 of 60"
        for page, rows, label in ((1, 25, "rows 26–50 of 60"), (2, 10, "rows 51–60 of 60")):
            table.move_cursor(row=table.row_count - 1)
            await pilot.press("pagedown")
            await settle(pilot)
            assert (table.page, len(screen.rows)) == (page, rows)
            assert table.page_label(screen.total) == label
        assert not table.has_more
