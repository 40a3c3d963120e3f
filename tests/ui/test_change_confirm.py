"""Drafts and confirmations (issue 12, item 2): a destination added in the form is saved off;
switching it on, and a Mapping change that starts a ReSci re-export, ask once with the count
the dry run gives; nothing is saved or switched on until the operator says yes."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from console.config import apply_config
from console.core.vocab import Trigger
from console.engine.destinations import get_destination
from console.engine.runner import run_destination
from console.ingest import import_contacts
from console.sandbox import ResciSandbox, SandboxServer
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.destination_form import DestinationForm
from console.ui.screens.mapping_forms import MappingDialog
from state.db import Store, open_store
from tests.resci.conftest import API_KEY, FAST, SITE_ID, JobClock, destination_toml
from tests.ui.conftest import RESCI, SEGMENT, AppFactory
from tests.ui.test_dry_run_view import add_contacts
from tests.ui.test_snapshots import BIG, keys, on_destination, settle


def question_of(screen: object) -> str:
    assert isinstance(screen, ConfirmScreen), screen
    return screen.question


def test_confirm_switch_on(
    snap_compare, ui_app: AppFactory, ui_store: Store, tmp_path: Path
) -> None:
    """o on a destination that is off: what its next run sends, asked once."""
    add_contacts(ui_store, tmp_path)

    async def run_before(pilot: Pilot[None]) -> None:
        await on_destination(pilot, SEGMENT)
        await keys(pilot, "o")  # off: nothing to ask
        await keys(pilot, "o")

    assert snap_compare(ui_app(), terminal_size=BIG, run_before=run_before)


async def test_a_new_destination_is_a_draft_and_switching_it_on_asks(
    ui_app: AppFactory, ui_store: Store, tmp_path: Path
) -> None:
    add_contacts(ui_store, tmp_path)
    app = ui_app()
    async with app.run_test(size=BIG) as pilot:
        await settle(pilot)
        await keys(pilot, "a", "enter")
        form = app.screen
        assert isinstance(form, DestinationForm)
        enabled = form.query_one("#f-enabled")
        assert enabled.disabled and not enabled.value  # type: ignore[attr-defined]
        await pilot.press(*"segment-new")
        form.query_one("#f-write_key", Input).value = "a-brand-new-write-key-QRST"
        await keys(pilot, "ctrl+s")
        assert not isinstance(app.screen, DestinationForm)
        with ui_store.read() as conn:
            record = get_destination(conn, "segment-new")
        assert record is not None and not record.enabled
        await on_destination(pilot, "segment-new")
        await keys(pilot, "o")
        # Grow is on, no filters: every contact (6, none suppressed) goes on the first run.
        assert question_of(app.screen) == "Switch on segment-new? Its next run sends 6 rows"
        await keys(pilot, "n")
        with ui_store.read() as conn:
            record = get_destination(conn, "segment-new")
        assert record is not None and not record.enabled
        await keys(pilot, "o", "y")
        with ui_store.read() as conn:
            record = get_destination(conn, "segment-new")
        assert record is not None and record.enabled
        # Switching off asks nothing.
        await keys(pilot, "o")
        assert not isinstance(app.screen, ConfirmScreen)


async def test_mapping_a_field_asks_before_the_re_export(
    ui_app: AppFactory, tmp_path: Path
) -> None:
    """After a completed backfill of 12 users, adding a mapped field on Mapping asks once:
    "starts a re-export of 12 users"; No keeps the mapping, Yes saves it."""
    sandbox = ResciSandbox(
        api_keys={API_KEY}, site_id=SITE_ID, job_delay_seconds=1.0, clock=JobClock()
    )
    store = open_store(tmp_path / "resci.db")
    try:
        with SandboxServer(sandbox, port=0) as server:
            rows = "".join(f"u{i}@gmail.com,CA\n" for i in range(12))
            contacts = tmp_path / "c.csv"
            contacts.write_text("email,address_state\n" + rows + "x@gmail.com,NY\n")
            import_contacts(store, contacts)
            config = tmp_path / "d.toml"
            config.write_text(destination_toml(server.url), encoding="utf-8")
            apply_config(store, config)
            with store.read() as conn:
                record = get_destination(conn, "resci-main")
            assert record is not None
            await run_destination(store, record, Trigger.MANUAL, FAST)
            sandbox.clock.advance(5)  # type: ignore[attr-defined]
            done = await run_destination(store, record, Trigger.MANUAL, FAST)
            assert "completed" in done.message, done.message
            requests = sandbox.requests
            app = ui_app(store)
            async with app.run_test(size=BIG) as pilot:
                await settle(pilot)
                await keys(pilot, "m")
                app.screen.query_one("#user-fields", DataTable).focus()
                await keys(pilot, "a")
                dialog = app.screen
                assert isinstance(dialog, MappingDialog)
                await dialog_pick(pilot, dialog, "address_state", "state")
                assert (
                    question_of(app.screen) == "Save resci-main? It starts a re-export of 12 users"
                )
                detail = str(app.screen.query_one(".dialog-detail", Static).render())
                assert "backfill: an import job of 12 users of 'california-gmail' × 3" in detail
                await keys(pilot, "n")
                with store.read() as conn:
                    unchanged = get_destination(conn, "resci-main")
                assert (
                    unchanged is not None
                    and "address_state" not in unchanged.settings.export.fields
                )
            assert sandbox.requests == requests
    finally:
        store.dispose()


async def dialog_pick(pilot: Pilot[None], dialog: MappingDialog, source: str, target: str) -> None:
    """Fill the field dialog (console field, ReSci field) and save it."""
    from textual.widgets import Select

    selects = list(dialog.query(Select))
    selects[0].value = source
    selects[1].value = target
    await keys(pilot, "ctrl+s")


async def test_marking_a_destination_test_on_a_production_key_asks_explicitly(
    ui_app: AppFactory, ui_store: Store
) -> None:
    """resci-prod's key is a production key (the default): ticking Test destination and saving
    asks, naming the danger; No saves nothing."""
    from textual.widgets import Checkbox

    app = ui_app()
    async with app.run_test(size=BIG) as pilot:
        await on_destination(pilot, RESCI)
        await keys(pilot, "e")
        form = app.screen
        assert isinstance(form, DestinationForm)
        form.query_one("#f-test", Checkbox).value = True
        await keys(pilot, "ctrl+s")
        assert question_of(app.screen).startswith(
            "resci-prod is a test destination on a production key: go live anyway?"
        )
        assert "Yes, on the production key" in str(app.screen.query_one("#yes").label)
        await keys(pilot, "n")
    with ui_store.read() as conn:
        record = get_destination(conn, RESCI)
    assert record is not None and not record.settings.test
