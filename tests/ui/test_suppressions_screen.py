"""The Suppressions screen (S, or the palette): the list with where and when each came from and
the count; `/` finds an email by its MD5; `a` adds and `x` lifts through the engine's commands."""

from __future__ import annotations

from pytest import MonkeyPatch
from textual.pilot import Pilot
from textual.widgets import Input, Static

from console.core.identity import email_md5
from console.ui.screens import suppressions as screen_module
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.mapping_forms import MappingDialog
from console.ui.screens.suppressions import SuppressionsScreen
from state.db import Store
from state.suppression_list import suppression_count, suppressions_page
from state.suppressions import add_suppressions
from tests.ui.conftest import AppFactory
from tests.ui.pilot import press, settle

BIG = (100, 32)
EMAILS = ["ann@example.com", "bob@gmail.com", "carl@yahoo.com"]


def fill(store: Store) -> None:
    with store.write() as conn:
        add_suppressions(conn, [email_md5(e) for e in EMAILS], "known-contacts-2026-11.csv")
        # Stored before notes were kept: shown as unknown.
        add_suppressions(conn, [email_md5("old@example.com")])


async def open_screen(pilot: Pilot[None]) -> SuppressionsScreen:
    await settle(pilot)
    await press(pilot, "S")
    screen = pilot.app.screen
    assert isinstance(screen, SuppressionsScreen)
    return screen


def title(pilot: Pilot[None]) -> str:
    return str(pilot.app.screen.query_one(".screen-title", Static).render())


async def test_search_add_and_lift(
    ui_app: AppFactory, ui_store: Store, monkeypatch: MonkeyPatch
) -> None:
    fill(ui_store)
    monkeypatch.setattr(screen_module, "operator_name", lambda: "ops@console-host")
    app = ui_app()
    async with app.run_test(size=BIG) as pilot:
        screen = await open_screen(pilot)
        assert "4 suppressions" in title(pilot)
        sources = {row.email_md5: row.source for row in screen.table.items}
        assert sources[email_md5("old@example.com")] is None
        await press(pilot, "slash")
        screen.query_one("#filter-input", Input).value = " Bob@Gmail.com "
        await press(pilot, "enter")
        await settle(pilot, rounds=4)
        assert [row.email_md5 for row in screen.table.items] == [email_md5("bob@gmail.com")]
        assert "1 suppression" in title(pilot)

        await press(pilot, "escape")  # clears the search
        await press(pilot, "a")
        dialog = app.screen
        assert isinstance(dialog, MappingDialog)
        dialog.query_one("#m-text", Input).value = "dan@example.com, not an email"
        await press(pilot, "ctrl+s")
        error = str(dialog.query_one("#dialog-error", Static).render())
        assert "'not an email' is neither an MD5 nor an email" in error
        dialog.query_one("#m-text", Input).value = "dan@example.com, ann@example.com"
        await press(pilot, "ctrl+s")
        await settle(pilot, rounds=4)
        assert "5 suppressions" in title(pilot)

        screen.table.move_cursor(row=0)
        lifted = screen.table.items[0].email_md5
        await press(pilot, "x")
        assert isinstance(app.screen, ConfirmScreen)
        await press(pilot, "y")
        await settle(pilot, rounds=4)
        assert "4 suppressions" in title(pilot)
    with ui_store.read() as conn:
        rows = {row.email_md5: row for row in suppressions_page(conn)}
        assert suppression_count(conn) == 4
    assert lifted not in rows
    assert rows[email_md5("dan@example.com")].source == "added by ops@console-host"


def test_suppressions_snapshot(snap_compare, ui_app: AppFactory, ui_store: Store) -> None:
    """Suppressions: the count in the title, each MD5 with its file and date, one stored
    before sources were kept shown as unknown."""
    fill(ui_store)

    async def run_before(pilot: Pilot[None]) -> None:
        await open_screen(pilot)
        await settle(pilot)

    assert snap_compare(ui_app(), terminal_size=BIG, run_before=run_before)
