"""A console without an engine of its own (`--no-engine`, each tab of `serve`): no scheduler,
the header and Destinations say so, and run now still delivers through the destination's lease,
which it does not take from another engine's run."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import Static

from console.core.vocab import RunStatus
from console.engine.destinations import get_destination
from console.sandbox import SegmentSandbox
from console.ui.widgets.status_bar import StatusBar
from state.db import Store
from state.runs import acquire_lease, owner_id, release_lease
from tests.ui.conftest import SEGMENT, AppFactory
from tests.ui.pilot import SIZE, press, select_row, settle
from tests.ui.test_snapshots import SMALL, on_destination


async def test_run_now_delivers_without_an_engine_of_its_own(
    ui_app: AppFactory, sandbox_store: tuple[Store, SegmentSandbox]
) -> None:
    store, sandbox = sandbox_store
    app = ui_app(store, engine_elsewhere=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.engine.scheduler is None
        header = str(app.screen.query_one(StatusBar).render())
        assert "engine off here" in header
        await select_row(pilot, "#destinations", SEGMENT)
        detail = str(app.screen.query_one("#detail-text", Static).render())
        assert "engine off here: scheduled where the engine runs" in detail
        await press(pilot, "r")
        await settle(pilot, rounds=4)
        assert app.last_results[SEGMENT].status == RunStatus.OK
    assert sandbox.stats()["messages"] == 2  # the store's two queued rows


async def test_run_now_leaves_a_destination_another_engine_is_working(
    ui_app: AppFactory, sandbox_store: tuple[Store, SegmentSandbox]
) -> None:
    store, sandbox = sandbox_store
    with store.write() as conn:
        segment = get_destination(conn, SEGMENT)
        assert segment is not None
        other_engine = owner_id()
        assert acquire_lease(conn, segment.id, other_engine) is None
    app = ui_app(store, engine_elsewhere=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select_row(pilot, "#destinations", SEGMENT)
        await press(pilot, "r")
        await settle(pilot, rounds=4)
        assert app.last_results[SEGMENT].status == RunStatus.BUSY
    assert sandbox.stats()["messages"] == 0
    with store.write() as conn:
        release_lease(conn, segment.id, other_engine)


async def test_pausing_says_where_the_engine_is(ui_app: AppFactory) -> None:
    app = ui_app(engine_elsewhere=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.toggle_engine()
        await settle(pilot)
        assert app.engine.paused is False
        assert any("no engine of its own (--no-engine)" in n.message for n in app._notifications)


def test_destinations_without_an_engine_of_its_own(snap_compare, ui_app: AppFactory) -> None:
    """Destinations at 80x24 in a console opened with --no-engine: "engine off here" in the
    header, not a red "stopped", and the detail says where scheduling happens."""

    async def run_before(pilot: Pilot[None]) -> None:
        await on_destination(pilot, SEGMENT)

    assert snap_compare(ui_app(engine_elsewhere=True), terminal_size=SMALL, run_before=run_before)
