"""History: runs that found nothing to send hidden until `.`, `/` keeps one outcome, and a run's
rows narrowed to the failed ones; Escape undoes the filter before it leaves."""

from __future__ import annotations

from datetime import timedelta

from console.core.vocab import Trigger
from console.engine.runs import RunCounts, finish_run
from console.ui.screens.choose import ChooseScreen
from console.ui.screens.history import HistoryScreen, RunRowsScreen
from state.db import Store
from state.history import runs_page
from state.runs import start_run
from tests.ui.conftest import FROZEN, SEGMENT, AppFactory, Clock
from tests.ui.pilot import SIZE, painted, press, settle


def add_empty_runs(store: Store, ui_clock: Clock, how_many: int) -> list[int]:
    """Scheduled runs of segment-prod that found nothing to send (ok, no request, no row)."""
    ids = []
    for minute in range(how_many):
        ui_clock.moment = FROZEN - timedelta(minutes=30 - minute)
        with store.write() as conn:
            run_id = start_run(conn, 1, Trigger.SCHEDULE)
            finish_run(
                conn, run_id, 1, RunCounts(), "ok", f"{SEGMENT}: ok - 0 delivered", errored=False
            )
        ids.append(run_id)
    ui_clock.moment = FROZEN
    return ids


async def test_empty_runs_are_hidden_until_dot(
    ui_app: AppFactory, ui_store: Store, ui_clock: Clock
) -> None:
    empty = set(add_empty_runs(ui_store, ui_clock, 3))
    with ui_store.read() as conn:
        every = [run.id for run in runs_page(conn, limit=1000)]
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "h")
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        shown = [run.id for run in screen.runs]
        assert shown == [i for i in every if i not in empty]
        assert "empty runs hidden (.)" in screen.query_one("#title").render().plain  # type: ignore[attr-defined]
        await press(pilot, "full_stop")
        assert [run.id for run in screen.runs] == every
        await press(pilot, "full_stop")
        assert not empty & {run.id for run in screen.runs}
        await press(pilot, "question_mark")
        assert "ended ok with no request sent, nothing delivered" in painted(app)


async def test_slash_keeps_one_outcome_and_escape_clears_it(ui_app: AppFactory) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "h")
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        outcomes = {run.status for run in screen.runs}
        assert outcomes == {"partial", "running"}
        await press(pilot, "slash")
        assert isinstance(app.screen, ChooseScreen)
        await press(pilot, *["down"] * 5, "enter")  # every, ok, failed, error, interrupted, running
        assert screen.outcome == "running"
        assert [run.status for run in screen.runs] == ["running"]
        await press(pilot, "escape")
        assert app.screen is screen and screen.outcome is None
        assert {run.status for run in screen.runs} == outcomes
        await press(pilot, "escape")
        assert app.current_mode == "destinations"


async def test_a_runs_rows_narrow_to_the_failed_ones(ui_app: AppFactory) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "h")
        history = app.screen
        assert isinstance(history, HistoryScreen)
        failed = next(i for i, run in enumerate(history.runs) if run.rejected and run.delivered)
        history.table.move_cursor(row=failed)
        await press(pilot, "enter")
        rows = app.screen
        assert isinstance(rows, RunRowsScreen)
        kinds = {row.kind.split(" (")[1] for row in rows.rows}
        assert {"failed)", "delivered)"} <= kinds
        everything = len(rows.rows)
        await press(pilot, "slash", "enter")  # the picker starts on "failed rows only"
        assert rows.status == "failed"
        assert rows.rows and all(row.kind.endswith("(failed)") for row in rows.rows)
        assert len(rows.rows) == history.runs[failed].rejected
        await press(pilot, "escape")
        assert app.screen is rows and len(rows.rows) == everything
        await press(pilot, "escape")
        assert app.screen is history
