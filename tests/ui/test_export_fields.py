"""Seed 001: "There are no default fields ... but at least one user field must be chosen". The
form and Mapping ask the operator for the first field and say why; nothing is mapped for them,
and an unpicked Select never reaches the settings as `Select.NULL`."""

from __future__ import annotations

from textual.widgets import Input, OptionList, Select, Static

from console.destinations.resci.settings import ResciSettings
from console.engine.destinations import get_destination, save_destination
from console.ui.screens.choose import ChooseScreen
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.destination_form import DestinationForm
from console.ui.screens.mapping_forms import MappingDialog
from state.db import Store
from tests.ui.conftest import RESCI, AppFactory
from tests.ui.pilot import SIZE, open_mapping, press, settle


async def test_the_form_needs_one_field_and_maps_only_what_was_typed(
    ui_app: AppFactory, ui_store: Store
) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "a", "down", "enter")  # ReSci
        form = app.screen
        assert isinstance(form, DestinationForm)
        form.query_one("#f-name", Input).value = "resci-new"
        form.query_one("#f-api_key", Input).value = "a-fresh-resci-key-0000-WXYZ"
        form.query_one("#f-export_audience", Select).value = "vip-customers"
        await press(pilot, "ctrl+s")
        assert app.screen is form
        error = str(form.query_one("#error-export_fields", Static).render())
        assert error == "map at least one contact field onto a ReSci user field"
        form.query_one("#f-export_fields", Input).value = "first_name=full_name"
        await press(pilot, "ctrl+s")
        assert app.screen is not form
    with ui_store.read() as conn:
        record = get_destination(conn, "resci-new")
    assert record is not None and record.settings.export is not None  # type: ignore[union-attr]
    assert record.settings.export.fields == {"first_name": "full_name"}  # type: ignore[union-attr]


async def test_mapping_asks_for_the_first_field_when_an_audience_is_chosen(
    ui_app: AppFactory, ui_store: Store
) -> None:
    with ui_store.write() as conn:
        record = get_destination(conn, RESCI)
        assert record is not None and isinstance(record.settings, ResciSettings)
        save_destination(conn, RESCI, record.settings.model_copy(update={"export": None}))
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_mapping(pilot, RESCI)
        await press(pilot, "u")
        assert isinstance(app.screen, ChooseScreen)
        choices = app.screen.query_one(OptionList)
        choices.highlighted = [o.id for o in choices.options].index("vip-customers")
        await press(pilot, "enter")
        dialog = app.screen
        assert isinstance(dialog, MappingDialog)
        assert "at least one user field is needed" in dialog.title_text
        await press(pilot, "ctrl+s")  # nothing picked
        error = str(dialog.query_one("#dialog-error", Static).render())
        assert error == "Refused: choose the console field to send"
        assert "Select.NULL" not in error
        dialog.query_one("#m-source", Select).value = "last_name"
        dialog.query_one("#m-target", Select).value = "full_name"
        await press(pilot, "ctrl+s")
        # The export starts a backfill: asked once, with its count (issue 12).
        assert isinstance(app.screen, ConfirmScreen)
        await press(pilot, "y")
        assert app.screen is not dialog
    with ui_store.read() as conn:
        saved = get_destination(conn, RESCI)
    assert saved is not None and saved.settings.export is not None  # type: ignore[union-attr]
    assert saved.settings.export.audience == "vip-customers"  # type: ignore[union-attr]
    assert saved.settings.export.fields == {"last_name": "full_name"}  # type: ignore[union-attr]
