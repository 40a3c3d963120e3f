"""The Audiences screen (A, or the palette): each audience with the contacts its rule matches
now, counted off the UI thread, and the exports that send it; `a` creates one in the editor,
which checks the rule as it is typed and counts its matches; `e` changes a rule; `x` removes
one, refused naming the destinations while an export sends it."""

from __future__ import annotations

from typing import Any

from pytest import MonkeyPatch
from textual.pilot import Pilot
from textual.widgets import Input, Static

from console.ui.screens import audience_editor
from console.ui.screens.audience_editor import AudienceEditor
from console.ui.screens.audiences import AudiencesScreen
from console.ui.screens.confirm import ConfirmScreen
from state.audiences import get_audience, list_audiences
from state.contacts import insert_contacts
from state.db import Store
from tests.hostile import HOSTILE, SHOWN
from tests.ui.conftest import AppFactory, contact
from tests.ui.pilot import press, settle

BIG = (120, 32)


def with_contacts(store: Store, count: int = 30) -> None:
    """30 contacts: every third in Los Angeles, CA; gmail / yahoo / outlook / aol in turn."""
    rows: list[dict[str, Any]] = []
    for n in range(count):
        row = contact(n)
        row.update(content_hash=f"h{n}", seq=n + 1)
        rows.append(row)
    with store.write() as conn:
        insert_contacts(conn, rows)


async def open_screen(pilot: Pilot[None]) -> AudiencesScreen:
    await settle(pilot)
    await press(pilot, "A")
    screen = pilot.app.screen
    assert isinstance(screen, AudiencesScreen)
    await settle(pilot, rounds=4)
    return screen


def title(pilot: Pilot[None]) -> str:
    return str(pilot.app.screen.query_one(".screen-title", Static).render())


def check_line(pilot: Pilot[None]) -> str:
    return str(pilot.app.screen.query_one("#audience-check", Static).render())


async def typed(pilot: Pilot[None], rule: str) -> None:
    """Set the rule as if typed, and wait for its count."""
    pilot.app.screen.query_one("#audience-rule", Input).value = rule
    await pilot.pause(0.05)
    await settle(pilot, rounds=3)


async def test_list_create_edit_and_remove(
    ui_app: AppFactory, ui_store: Store, monkeypatch: MonkeyPatch
) -> None:
    with_contacts(ui_store)
    monkeypatch.setattr(audience_editor, "COUNT_DELAY", 0.01)
    app = ui_app()
    async with app.run_test(size=BIG) as pilot:
        screen = await open_screen(pilot)
        assert title(pilot) == "Audiences · 2 audiences"
        rows = {row.name: row for row in screen.table.items}
        # contacts 0, 12 and 24: gmail and CA.
        assert rows["california-gmail"].members == 3
        assert rows["california-gmail"].used_by == ("resci-prod",)
        assert rows["vip-customers"].members == 0

        await press(pilot, "a")
        editor = app.screen
        assert isinstance(editor, AudienceEditor)
        editor.query_one("#audience-name", Input).value = "los-angeles"
        await typed(pilot, "address_city = 'Los Angeles' and emial = 'x'")
        assert "✗ position 34: unknown field 'emial'" in check_line(pilot)
        await typed(pilot, "address_city = 'los angeles'")
        assert "10 contacts match now" in check_line(pilot)
        await press(pilot, "ctrl+s")
        await settle(pilot, rounds=4)
        assert isinstance(app.screen, AudiencesScreen)
        assert "3 audiences" in title(pilot)

        # A new audience may not take a name in use.
        await press(pilot, "a")
        app.screen.query_one("#audience-name", Input).value = "vip-customers"
        await typed(pilot, "email_domain = 'aol.com'")
        await press(pilot, "ctrl+s")
        refusal = str(app.screen.query_one("#dialog-error", Static).render())
        assert "an audience named 'vip-customers' exists already" in refusal
        await pilot.click("#cancel")  # the buttons do what their keys do
        await settle(pilot)
        assert isinstance(app.screen, AudiencesScreen)

        names = [row.name for row in screen.table.items]
        screen.table.move_cursor(row=names.index("vip-customers"))
        await press(pilot, "e")
        assert app.screen.query_one("#audience-name", Input).disabled
        await typed(pilot, "email_domain = 'aol.com'")
        assert "7 contacts match now" in check_line(pilot)  # 3, 7, ..., 27
        await pilot.click("#save")
        await settle(pilot, rounds=4)
        members = {row.name: row.members for row in screen.table.items}
        assert members == {"california-gmail": 3, "los-angeles": 10, "vip-customers": 7}

        # Exported: refused at once, naming the destination; nothing asked.
        screen.table.move_cursor(row=names.index("california-gmail"))
        await press(pilot, "x")
        assert isinstance(app.screen, AudiencesScreen)
        notices = [n.message for n in app._notifications]
        assert any("exported by resci-prod" in message for message in notices)

        screen.table.move_cursor(row=[r.name for r in screen.table.items].index("vip-customers"))
        await press(pilot, "x")
        assert isinstance(app.screen, ConfirmScreen)
        await press(pilot, "y")
        await settle(pilot, rounds=4)
        assert "2 audiences" in title(pilot)
    with ui_store.read() as conn:
        assert [a.name for a in list_audiences(conn)] == ["california-gmail", "los-angeles"]
        saved = get_audience(conn, "los-angeles")
    assert saved is not None and saved.rule == "address_city = 'los angeles'"


async def test_a_rule_is_shown_as_text(ui_app: AppFactory, ui_store: Store) -> None:
    """What the operator typed (or a file held) is shown literally, never as markup."""
    app = ui_app()
    async with app.run_test(size=BIG) as pilot:
        await open_screen(pilot)
        await press(pilot, "a")
        await typed(pilot, f"email = '{HOSTILE}'")
        assert app.is_running
        assert "✓ reads as: email = " in check_line(pilot)
        assert SHOWN in check_line(pilot)


def test_audiences_snapshot(snap_compare, ui_app: AppFactory, ui_store: Store) -> None:
    """Audiences: two audiences, their member counts, the export sending one, their rules."""
    with_contacts(ui_store)

    async def run_before(pilot: Pilot[None]) -> None:
        await open_screen(pilot)

    assert snap_compare(ui_app(), terminal_size=BIG, run_before=run_before)


def test_audience_editor_snapshot(
    snap_compare, ui_app: AppFactory, ui_store: Store, monkeypatch: MonkeyPatch
) -> None:
    """The editor: a rule that parses, read back in canonical form, with its live count."""
    with_contacts(ui_store)
    monkeypatch.setattr(audience_editor, "COUNT_DELAY", 0.01)

    async def run_before(pilot: Pilot[None]) -> None:
        await open_screen(pilot)
        await press(pilot, "a")
        pilot.app.screen.query_one("#audience-name", Input).value = "west-coast"
        await typed(pilot, "address_state in [CA, WA] and not email_domain = aol.com")

    assert snap_compare(ui_app(), terminal_size=BIG, run_before=run_before)
