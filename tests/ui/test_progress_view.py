"""A run in progress on Destinations: the panel says rows sent of rows due, the rate and the
time left, as the engine tells them (frozen clock, fixed size)."""

from __future__ import annotations

from datetime import timedelta

from textual.pilot import Pilot

from console.engine.progress import DELIVERING, RunProgress
from tests.ui.conftest import FROZEN, RESCI, AppFactory
from tests.ui.test_snapshots import BIG, on_destination


def test_a_run_in_progress(snap_compare, ui_app: AppFactory) -> None:
    app = ui_app()
    app.engine.running.add(RESCI)
    app.engine.progress[RESCI] = RunProgress(
        RESCI, started=FROZEN - timedelta(seconds=12), phase=DELIVERING, due=20_043, sent=1_854
    )

    async def run_before(pilot: Pilot[None]) -> None:
        await on_destination(pilot, RESCI)

    assert snap_compare(app, terminal_size=BIG, run_before=run_before)
