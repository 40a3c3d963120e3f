"""The destination form's authorization picker: choose a saved authorization, or create a new
one in a dialog (saved through the engine's commands) and have it chosen; the destination then
keeps no key of its own."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import Input, Select, Static

from console.engine.commands import Commands
from console.engine.destinations import get_destination
from console.ui.screens.authorization_picker import NEW
from console.ui.screens.destination_form import DestinationForm
from console.ui.screens.mapping_forms import MappingDialog
from state.authorizations import get_authorization
from state.db import Store
from tests.ui.conftest import RESCI, AppFactory
from tests.ui.pilot import SIZE, press, select_row, settle

BIG = (100, 32)


async def open_form(pilot: Pilot[None]) -> DestinationForm:
    await settle(pilot)
    await select_row(pilot, "#destinations", RESCI)
    await press(pilot, "e")
    form = pilot.app.screen
    assert isinstance(form, DestinationForm)
    return form


async def test_create_a_new_authorization_from_the_form(
    ui_app: AppFactory, ui_store: Store
) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(pilot)
        form.query_one("#f-authorization", Select).value = NEW
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, MappingDialog)
        dialog.query_one("#a-label", Input).value = "shop production"
        dialog.query_one("#a-key", Input).value = "two words"
        await press(pilot, "ctrl+s")
        error = str(dialog.query_one("#dialog-error", Static).render())
        assert error == "Refused: API key must not contain spaces"  # the key is never echoed
        dialog.query_one("#a-key", Input).value = "shared-key-0123456789"
        await press(pilot, "ctrl+s")
        await settle(pilot, rounds=4)
        assert app.screen is form
        assert form.query_one("#f-authorization", Select).value == "shop production"
        await press(pilot, "ctrl+s")
        assert app.screen is not form
    with ui_store.read() as conn:
        record = get_destination(conn, RESCI)
        saved = get_authorization(conn, "shop production")
    assert saved is not None and saved.api_key == "shared-key-0123456789"
    assert record is not None and record.settings.authorization == "shop production"  # type: ignore[attr-defined]
    assert record.settings.api_key.get_secret_value() == "shared-key-0123456789"  # type: ignore[attr-defined]


def test_authorization_picker_snapshot(snap_compare, ui_app: AppFactory, ui_store: Store) -> None:
    """The picker open on the ReSci form: the destination's own key, two saved authorizations,
    and "create a new authorization…"."""
    commands = Commands(ui_store)
    commands.save_authorization("production", "prod-key-0123456789", "the shop's key")
    commands.save_authorization("staging", "env:RESCI_STAGING_KEY")

    async def run_before(pilot: Pilot[None]) -> None:
        form = await open_form(pilot)
        form.query_one("#f-authorization", Select).focus()
        await settle(pilot)
        await press(pilot, "enter")

    assert snap_compare(ui_app(), terminal_size=BIG, run_before=run_before)
