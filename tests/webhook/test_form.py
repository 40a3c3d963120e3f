"""The console's destination form for a webhook, built from its settings model: it renders (a
snapshot), refuses a plain-http URL inline, saves through the engine, and editing keeps the
stored secret; the settings panel shows the secret masked."""

from __future__ import annotations

from pydantic import SecretStr
from textual.pilot import Pilot
from textual.widgets import Checkbox, DataTable, Input, Static

from console.destinations import registry
from console.engine.destinations import get_destination, save_destination
from console.ui.screens.destination_form import DestinationForm
from state.db import Store
from tests.ui.conftest import AppFactory, ui_app, ui_clock, ui_store  # noqa: F401 (fixtures)

SIZE = (100, 40)
SECRET = "whsec-live-0123456789-QrSt"
URL = "https://hooks.shop.example/retention"


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(2):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def open_new_webhook_form(pilot: Pilot[None]) -> None:
    await settle(pilot)
    await pilot.press("a")
    await settle(pilot)
    position = list(registry.KINDS).index("webhook")
    await pilot.press(*["down"] * position, "enter")
    await settle(pilot)


async def test_a_webhook_destination_is_added_from_the_form(
    ui_app: AppFactory,  # noqa: F811
    ui_store: Store,  # noqa: F811
) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_new_webhook_form(pilot)
        form = app.screen
        assert isinstance(form, DestinationForm) and form.kind == "webhook"
        assert form.query_one("#f-secret", Input).password
        assert form.query_one("#f-reclaim", Checkbox).value is True
        await pilot.press(*"hook-prod")
        form.query_one("#f-url", Input).value = "http://hooks.shop.example/retention"
        form.query_one("#f-secret", Input).value = SECRET
        form.query_one("#f-filters-email_domains", Input).value = "gmail.com, Yahoo.com"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, DestinationForm)
        assert "https://" in str(form.query_one("#error-url", Static).render())
        form.query_one("#f-url", Input).value = URL
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, DestinationForm)
    with ui_store.read() as conn:
        record = get_destination(conn, "hook-prod")
    assert record is not None and record.kind == "webhook"
    assert record.settings.url == URL and record.settings.secret.get_secret_value() == SECRET
    assert record.settings.filters.email_domains == ["gmail.com", "yahoo.com"]


async def test_editing_keeps_the_stored_secret_and_the_panel_masks_it(
    ui_app: AppFactory,  # noqa: F811
    ui_store: Store,  # noqa: F811
) -> None:
    settings = registry.parse_settings("webhook", {"url": URL, "secret": SECRET})
    with ui_store.write() as conn:
        save_destination(conn, "hook-prod", settings)
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#destinations", DataTable)
        table.move_cursor(row=table.get_row_index("hook-prod"))
        await settle(pilot)
        panel = " ".join(str(s.render()) for s in app.screen.query(Static))
        assert URL in panel and SECRET not in panel and SECRET[-4:] in panel
        await pilot.press("e")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, DestinationForm)
        assert form.query_one("#f-secret", Input).value == ""
        form.query_one("#f-schedule_minutes", Input).value = "5"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, DestinationForm)
    with ui_store.read() as conn:
        record = get_destination(conn, "hook-prod")
    assert record is not None
    assert record.settings.secret == SecretStr(SECRET) and record.settings.schedule_minutes == 5


def test_webhook_edit_form_snapshot(snap_compare, ui_app: AppFactory, ui_store: Store) -> None:  # noqa: F811
    """Edit hook-prod at 100x32: URL, signing secret empty with the masked secret as its
    placeholder, Reclaim on, revenue metric, schedule and the email-domain filter."""
    settings = registry.parse_settings(
        "webhook",
        {
            "url": URL,
            "secret": SECRET,
            "revenue_metric": "Price",
            "schedule_minutes": 10,
            "filters": {"email_domains": ["gmail.com", "yahoo.com"]},
        },
    )
    with ui_store.write() as conn:
        save_destination(conn, "hook-prod", settings)

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        table = pilot.app.screen.query_one("#destinations", DataTable)
        table.move_cursor(row=table.get_row_index("hook-prod"))
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)

    assert snap_compare(ui_app(), terminal_size=(100, 32), run_before=run_before)


async def test_mapping_names_the_events_a_webhook_sends(
    ui_app: AppFactory,  # noqa: F811
    ui_store: Store,  # noqa: F811
) -> None:
    settings = registry.parse_settings("webhook", {"url": URL, "secret": SECRET})
    with ui_store.write() as conn:
        save_destination(conn, "hook-prod", settings)
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#destinations", DataTable)
        table.move_cursor(row=table.get_row_index("hook-prod"))
        await settle(pilot)
        for key in ("m", "a"):
            await pilot.press(key)
            await settle(pilot)
        app.screen.query_one("#m-text", Input).value = "Add To Cart Reclaim"
        for key in ("enter", "v"):
            await pilot.press(key)
            await settle(pilot)
        app.screen.query_one("#m-text", Input).value = "Price"
        await pilot.press("enter")
        await settle(pilot)
        title = str(app.screen.query_one("#title", Static).render())
        assert "hook-prod (Webhook)" in title
    with ui_store.read() as conn:
        record = get_destination(conn, "hook-prod")
    assert record is not None
    assert record.settings.reclaim_events == ["Add To Cart Reclaim"]
    assert record.settings.revenue_metric == "Price"
