"""Pilot tests of Destinations and Mapping: drive the console as an operator would and
check what the store, the engine and the screens say afterwards."""

from __future__ import annotations

from textual.widgets import DataTable, Input, Static

from console.destinations.resci.settings import ResciSettings
from console.destinations.segment.settings import SegmentSettings
from console.engine.destinations import get_destination, list_destinations
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.destination_form import DestinationForm
from console.ui.screens.mapping_forms import MappingDialog
from state.db import Store
from state.failures import FailureFilter, failures_page
from state.runs import acquire_lease, owner_id, release_lease
from tests.ui.conftest import (
    RESCI,
    RESCI_KEY,
    SEGMENT,
    SEGMENT_KEY,
    AppFactory,
)
from tests.ui.pilot import SIZE, open_mapping, painted, press, select_row, settle, table_column

# -- destinations -------------------------------------------------------------------------------


async def test_add_segment_destination(ui_app: AppFactory, ui_store: Store) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "a")
        await press(pilot, "enter")  # Segment is highlighted first
        assert isinstance(app.screen, DestinationForm)
        await pilot.press(*"segment-eu")  # the name field has the focus
        app.screen.query_one("#f-write_key", Input).value = "a-brand-new-write-key-QRST"
        app.screen.query_one("#f-endpoint", Input).value = "eu"
        app.screen.query_one("#f-filters-states", Input).value = "ca, ny"
        await press(pilot, "ctrl+s")
        assert not isinstance(app.screen, DestinationForm)
        assert "segment-eu" in table_column(app, "#destinations", "name")
    with ui_store.read() as conn:
        record = get_destination(conn, "segment-eu")
    assert record is not None and isinstance(record.settings, SegmentSettings)
    assert record.settings.endpoint == "https://events.eu1.segmentapis.com"
    assert record.settings.filters.states == ["ca", "ny"]
    assert record.settings.write_key.get_secret_value() == "a-brand-new-write-key-QRST"


async def test_form_errors_are_shown_and_nothing_is_saved(
    ui_app: AppFactory, ui_store: Store
) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "a", "down", "enter")  # ReSci
        form = app.screen
        assert isinstance(form, DestinationForm) and form.kind == "resci"
        form.query_one("#f-site_id", Input).value = "site-7"
        await press(pilot, "ctrl+s")
        assert isinstance(app.screen, DestinationForm)
        errors = {
            str(w.id): str(w.render()) for w in form.query(".field-error") if w.has_class("-shown")
        }
        assert "a name is required" in errors["error-name"]
        assert "choose an authorization or enter an API key" in errors["error-api_key"]
        assert "Site ID is a number" in errors["error-site_id"]
        assert "3 problems" in str(form.query_one("#form-problems", Static).render())
        await press(pilot, "escape")
        assert not isinstance(app.screen, DestinationForm)
    with ui_store.read() as conn:
        assert [d.name for d in list_destinations(conn)] == [RESCI, SEGMENT]


async def test_edit_keeps_the_stored_key_and_never_shows_it(
    ui_app: AppFactory, ui_store: Store
) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select_row(pilot, "#destinations", SEGMENT)
        assert SEGMENT_KEY not in painted(app)
        assert "••••AbCd" in painted(app)
        await press(pilot, "e")
        form = app.screen
        assert isinstance(form, DestinationForm)
        key = form.query_one("#f-write_key", Input)
        assert key.value == "" and key.password and "••••AbCd" in key.placeholder
        assert SEGMENT_KEY not in painted(app)
        form.query_one("#f-group_id", Input).value = "vip"
        await press(pilot, "ctrl+s")
        assert not isinstance(app.screen, DestinationForm)
    with ui_store.read() as conn:
        record = get_destination(conn, SEGMENT)
    assert record is not None and isinstance(record.settings, SegmentSettings)
    assert record.settings.group_id == "vip"
    assert record.settings.write_key.get_secret_value() == SEGMENT_KEY
    assert record.settings.reclaim_events == ["Viewed Product Reclaim", "Add To Cart Reclaim"]


async def test_resci_form_never_shows_the_api_key(ui_app: AppFactory) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select_row(pilot, "#destinations", RESCI)
        await press(pilot, "e")
        assert isinstance(app.screen, DestinationForm)
        text = painted(app)
        assert RESCI_KEY not in text and "••••WxYz" in text


async def test_remove_asks_once_then_removes(ui_app: AppFactory, ui_store: Store) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select_row(pilot, "#destinations", SEGMENT)
        await press(pilot, "x", "n")
        assert table_column(app, "#destinations", "name") == [RESCI, SEGMENT]
        await press(pilot, "x", "y")
        assert table_column(app, "#destinations", "name") == [RESCI]
    with ui_store.read() as conn:
        assert [d.name for d in list_destinations(conn)] == [RESCI]
        assert failures_page(conn, FailureFilter(destination=SEGMENT)) == []


async def test_remove_during_a_run_is_refused_and_keeps_everything(
    ui_app: AppFactory, ui_store: Store
) -> None:
    """A run (here: another engine) holds the destination's lease: the removal waits its
    patience out, then says why; nothing is deleted, and once the run ends it goes through."""
    with ui_store.write() as conn:
        segment = get_destination(conn, SEGMENT)
        assert segment is not None
        runner = owner_id()
        assert acquire_lease(conn, segment.id, runner) is None
        failures_before = failures_page(conn, FailureFilter(destination=SEGMENT))
    assert failures_before
    app = ui_app()
    app.engine.commands.remove_wait_seconds = 0.3
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select_row(pilot, "#destinations", SEGMENT)
        await press(pilot, "x", "y")
        await settle(pilot)
        toasts = [n.message for n in app._notifications]
        assert any(
            f"destination {SEGMENT} is being delivered by " in t
            and "try again when the run ends" in t
            for t in toasts
        ), toasts
        assert table_column(app, "#destinations", "name") == [RESCI, SEGMENT]
        with ui_store.read() as conn:
            assert failures_page(conn, FailureFilter(destination=SEGMENT)) == failures_before
        with ui_store.write() as conn:
            release_lease(conn, segment.id, runner)
        await press(pilot, "x", "y")
        assert table_column(app, "#destinations", "name") == [RESCI]


async def test_confirmation_answers_true_or_false(ui_app: AppFactory) -> None:
    """The confirmation is a ModalScreen[bool]: y gives True; n and Escape give False."""
    app = ui_app()
    answers: list[bool | None] = []
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for key in ("y", "n", "escape"):
            app.push_screen(ConfirmScreen("Sure?"), answers.append)
            await settle(pilot)
            await press(pilot, key)
    assert answers == [True, False, False]


async def test_o_switches_off_and_p_pauses(ui_app: AppFactory, ui_store: Store) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select_row(pilot, "#destinations", SEGMENT)
        await press(pilot, "o")
        assert table_column(app, "#destinations", "enabled")[1] == "off"
        # Switching on asks once, with what the next run sends (issue 12).
        await press(pilot, "o")
        assert isinstance(app.screen, ConfirmScreen)
        await press(pilot, "y", "p")
        assert table_column(app, "#destinations", "enabled")[1] == "paused"
    with ui_store.read() as conn:
        record = get_destination(conn, SEGMENT)
    assert record is not None and record.enabled and record.paused


# -- mapping ------------------------------------------------------------------------------------


async def test_mapping_refuses_a_reserved_name_as_custom_event(
    ui_app: AppFactory, ui_store: Store
) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_mapping(pilot, RESCI)
        app.screen.query_one("#events", DataTable).focus()
        await press(pilot, "a")
        dialog = app.screen
        assert isinstance(dialog, MappingDialog)
        await pilot.press(*"click")
        await press(pilot, "enter")
        assert isinstance(app.screen, MappingDialog)
        error = str(dialog.query_one("#dialog-error", Static).render())
        assert "'click' is a ReSci reserved event and cannot be used as a custom event" in error
        dialog.query_one("#m-custom", Input).value = "Checkout Started Reclaim"
        dialog.query_one("#m-reserved").value = "checkout_success"  # type: ignore[attr-defined]
        await press(pilot, "ctrl+s")
        assert not isinstance(app.screen, MappingDialog)
        assert "Checkout Started Reclaim" in table_column(app, "#events", "custom")
    with ui_store.read() as conn:
        record = get_destination(conn, RESCI)
    assert isinstance(record.settings, ResciSettings)  # type: ignore[union-attr]
    assert record.settings.events["Checkout Started Reclaim"] == "checkout_success"  # type: ignore[union-attr]
    assert "click" not in record.settings.events  # type: ignore[union-attr]


async def test_mapping_refuses_a_duplicate_target_and_the_last_removal(
    ui_app: AppFactory, ui_store: Store
) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_mapping(pilot, RESCI)
        app.screen.query_one("#user-fields", DataTable).focus()
        await press(pilot, "a")
        dialog = app.screen
        assert isinstance(dialog, MappingDialog)
        dialog.query_one("#m-source").value = "last_name"  # type: ignore[attr-defined]
        dialog.query_one("#m-target").value = "full_name"  # type: ignore[attr-defined]
        await press(pilot, "ctrl+s")
        error = str(dialog.query_one("#dialog-error", Static).render())
        assert "full_name already receives first_name" in error
        await press(pilot, "escape")
        # Remove both mapped fields: the second removal is refused with its reason.
        app.screen.query_one("#user-fields", DataTable).focus()
        await press(pilot, "x", "y")  # a live mapping: asked once
        assert table_column(app, "#user-fields", "source") == ["address_city"]
        await press(pilot, "x")
        assert table_column(app, "#user-fields", "source") == ["address_city"]
        error = str(app.screen.query_one("#mapping-error", Static).render())
        assert "at least one user field must stay mapped" in error
    with ui_store.read() as conn:
        record = get_destination(conn, RESCI)
    assert record.settings.export.fields == {"address_city": "city"}  # type: ignore[union-attr]


async def test_segment_mapping_sets_reclaim_events_and_revenue(
    ui_app: AppFactory, ui_store: Store
) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_mapping(pilot, SEGMENT)
        await press(pilot, "a")
        app.screen.query_one("#m-text", Input).value = "Viewed Product Reclaim"
        await press(pilot, "enter")
        error = str(app.screen.query_one("#dialog-error", Static).render())
        assert "Viewed Product Reclaim is already sent" in error
        app.screen.query_one("#m-text", Input).value = "Checkout Started Reclaim"
        await press(pilot, "enter")
        await press(pilot, "v")
        app.screen.query_one("#m-text", Input).value = "cart_amount"
        await press(pilot, "enter")
    with ui_store.read() as conn:
        settings = get_destination(conn, SEGMENT).settings  # type: ignore[union-attr]
    assert isinstance(settings, SegmentSettings)
    assert settings.reclaim_events[-1] == "Checkout Started Reclaim"
    assert settings.revenue_metric == "cart_amount"
