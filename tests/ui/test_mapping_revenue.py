"""V on a Segment destination's Mapping: one event's revenue read from its own property, shown
beside the revenue metric."""

from __future__ import annotations

from textual.widgets import Input, Static

from console.engine.destinations import get_destination
from console.ui.screens.mapping_forms import MappingDialog
from state.db import Store
from tests.ui.conftest import SEGMENT, AppFactory
from tests.ui.pilot import SIZE, open_mapping, press


async def test_revenue_per_event_is_set_on_mapping(ui_app: AppFactory, ui_store: Store) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_mapping(pilot, SEGMENT)
        await press(pilot, "V")
        assert isinstance(app.screen, MappingDialog)
        app.screen.query_one("#m-event", Input).value = "Checkout Started Reclaim"
        app.screen.query_one("#m-property", Input).value = "cart_amount"
        await press(pilot, "ctrl+s")
        assert not isinstance(app.screen, MappingDialog)
        summary = str(app.screen.query_one("#mapping-summary", Static).render())
        assert "Revenue metric: Price" in summary
        assert "per event: Checkout Started Reclaim: cart_amount" in summary
    with ui_store.read() as conn:
        settings = get_destination(conn, SEGMENT).settings  # type: ignore[union-attr]
    assert settings.revenue_by_event == {"Checkout Started Reclaim": "cart_amount"}  # type: ignore[attr-defined]
