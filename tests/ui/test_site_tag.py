"""The on-site tag in the console (issue 13 item 14): `w` on a ReSci destination shows the tag
`resci tag` prints, as text, and `c` copies it to the clipboard with a toast; a kind without a
tag has no `o`, and a ReSci destination without a Site ID says what is missing."""

from __future__ import annotations

from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Static

from console.destinations.resci.settings import ResciSettings
from console.destinations.resci.tag import onsite_tag
from console.engine.destinations import get_destination, save_destination
from console.ui.screens.destinations import DestinationsScreen
from console.ui.screens.site_tag import SiteTagScreen
from state.db import Store
from tests.ui.conftest import RESCI, SEGMENT, AppFactory
from tests.ui.pilot import painted, press, select_row, settle

BIG = (120, 40)


def resci_settings(store: Store) -> ResciSettings:
    with store.read() as conn:
        record = get_destination(conn, RESCI)
    assert record is not None and isinstance(record.settings, ResciSettings)
    return record.settings


async def test_the_tag_is_shown_and_copied(ui_app: AppFactory, ui_store: Store) -> None:
    # An event name that reads as markup: the tag is shown as text, brackets and all.
    settings = resci_settings(ui_store)
    events = {"[b]Sale[/b] Reclaim": "view", **settings.events}
    with ui_store.write() as conn:
        save_destination(conn, RESCI, settings.model_copy(update={"events": events}))
    expected = onsite_tag(resci_settings(ui_store), RESCI)
    app = ui_app()
    async with app.run_test(size=BIG) as pilot:
        await settle(pilot)
        await select_row(pilot, "#destinations", RESCI)
        assert "On-site tag: press w to see it and copy it" in painted(app)
        await press(pilot, "w")
        dialog = app.screen
        assert isinstance(dialog, SiteTagScreen)
        shown = dialog.query_one("#site-tag", Static).content
        assert isinstance(shown, Text)
        assert "['_setSiteId', '4242']" in shown.plain
        assert "// [b]Sale[/b] Reclaim -> view" in shown.plain
        await press(pilot, "c")
        assert app.clipboard == expected
        assert any("On-site tag copied" in n.message for n in app._notifications)
        await press(pilot, "escape")
        assert isinstance(app.screen, DestinationsScreen)
        # The buttons do what their keys do.
        app.copy_to_clipboard("")
        await press(pilot, "w")
        await pilot.click("#copy")
        await settle(pilot)
        assert app.clipboard == expected
        await pilot.click("#close")
        await settle(pilot)
        assert isinstance(app.screen, DestinationsScreen)


async def test_no_tag_for_segment_and_none_without_a_site_id(
    ui_app: AppFactory, ui_store: Store
) -> None:
    app = ui_app()
    async with app.run_test(size=BIG) as pilot:
        await settle(pilot)
        await select_row(pilot, "#destinations", SEGMENT)
        assert "On-site tag" not in painted(app)
        await press(pilot, "w")
        assert isinstance(app.screen, DestinationsScreen)
        assert not app._notifications

    settings = resci_settings(ui_store)
    with ui_store.write() as conn:
        save_destination(
            conn, RESCI, settings.model_copy(update={"site_id": None, "on_site": False})
        )
    app = ui_app()
    async with app.run_test(size=BIG) as pilot:
        await settle(pilot)
        await select_row(pilot, "#destinations", RESCI)
        await press(pilot, "w")
        assert isinstance(app.screen, DestinationsScreen)
        assert any("has no Site ID" in n.message for n in app._notifications)


def test_site_tag_snapshot(snap_compare, ui_app: AppFactory) -> None:
    """The tag dialog over Destinations: the whole tag as text, Copy and Close."""

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await select_row(pilot, "#destinations", RESCI)
        await press(pilot, "w")

    assert snap_compare(ui_app(), terminal_size=BIG, run_before=run_before)
