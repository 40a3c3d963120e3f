"""The payload panel on Failures stays where the operator scrolled it when the engine moves
(each run refreshes the page under it)."""

from __future__ import annotations

from textual.widgets import Static

from console.ui.widgets.failure_detail import FailureDetail
from tests.ui.conftest import AppFactory
from tests.ui.pilot import press, settle


async def test_engine_ticks_keep_the_payload_and_its_scroll(ui_app: AppFactory) -> None:
    app = ui_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await press(pilot, "f", "enter")  # the payload of the first failure
        detail = app.screen.query_one(FailureDetail)
        payload = app.screen.query_one("#failure-payload", Static)
        assert str(payload.render()).startswith("Payload sent:")
        bottom = detail.max_scroll_y
        assert bottom > 0
        detail.scroll_to(y=bottom, animate=False)
        await settle(pilot)
        # Each reload of the payload blanked the panel to "loading…" (its height collapsing
        # under the operator's scroll): the same row shown again must not load it again.
        loads: list[int] = []
        load = detail._load_payload
        detail._load_payload = lambda row_id: (loads.append(row_id), load(row_id))  # type: ignore[method-assign]
        for _ in range(3):
            app.engine_tick += 1  # what each engine event does
            await settle(pilot)
        assert str(payload.render()).startswith("Payload sent:")
        assert detail.scroll_y == bottom
        assert loads == []
        await press(pilot, "down")  # another row: its payload loads
        assert len(loads) == 1
