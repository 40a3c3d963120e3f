"""A test-connection reply is shown for the settings it answered: after the endpoint is fixed
in the form, the old "FAILED" goes."""

from __future__ import annotations

from textual.widgets import Input, Static

from console.destinations.segment.settings import SegmentSettings
from console.engine.destinations import get_destination, save_destination
from console.sandbox import SegmentSandbox
from state.db import Store
from tests.ui.conftest import SEGMENT, AppFactory
from tests.ui.pilot import SIZE, press, select_row, settle


async def test_a_stale_failure_goes_once_the_endpoint_is_fixed(
    ui_app: AppFactory, sandbox_store: tuple[Store, SegmentSandbox]
) -> None:
    store, _ = sandbox_store
    with store.write() as conn:
        record = get_destination(conn, SEGMENT)
        assert record is not None and isinstance(record.settings, SegmentSettings)
        good = record.settings.endpoint
        broken = record.settings.model_copy(update={"endpoint": "http://127.0.0.1:9"})
        save_destination(conn, SEGMENT, broken, enabled=record.enabled)
    app = ui_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select_row(pilot, "#destinations", SEGMENT)
        await press(pilot, "t")
        await settle(pilot, rounds=4)
        detail = app.screen.query_one("#detail-text", Static)
        assert "Test connection FAILED" in str(detail.render())
        await press(pilot, "e")
        app.screen.query_one("#f-endpoint", Input).value = good
        await press(pilot, "ctrl+s")
        await settle(pilot, rounds=3)
        text = str(app.screen.query_one("#detail-text", Static).render())
        assert "FAILED" not in text and "Test connection: press t" in text
