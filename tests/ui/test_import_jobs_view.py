"""The Import jobs view (from Destinations with `j`, and from the palette) and the read-only
Alerts panel: snapshots at a fixed size and clock, and the receiver's words shown as text."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import DataTable

from console.core import clock
from console.core.vocab import ImportJobStatus
from console.engine.alert_settings import AlertSettings
from console.engine.commands import Commands
from console.ui.screens.alerts import AlertsScreen
from console.ui.screens.import_jobs import ImportJobsScreen
from state.alerts import change_alert_state
from state.db import Store
from state.import_jobs import create_job, update_job
from tests.ui.conftest import FROZEN, RESCI, SEGMENT, AppFactory, Clock
from tests.ui.test_snapshots import BIG, SMALL, keys, on_destination, settle

HOSTILE_MESSAGE = "[@click=app.quit]row 3[/] bad date \x1b[2J"


async def palette(pilot: Pilot[None], command: str) -> None:
    """Open the command palette, type `command`, take the first hit."""
    await pilot.press("colon")
    await pilot.pause()
    for char in command:
        await pilot.press(char if char != " " else "space")
    await pilot.pause(0.3)
    await pilot.press("enter")
    await settle(pilot)


def add_jobs(store: Store, ui_clock: Clock) -> None:
    """Three jobs of the ReSci destination: completed two days ago with rejections, failed
    yesterday with ReSci's (hostile) words, and one processing for 75 minutes."""
    resci_id = 2
    for back, status, rows, imported, rejected, message in (
        (timedelta(days=2), ImportJobStatus.COMPLETED, 20_043, 20_022, 21, None),
        (timedelta(days=1), ImportJobStatus.FAILED, 20_050, 0, 0, HOSTILE_MESSAGE),
        (timedelta(minutes=75), ImportJobStatus.PROCESSING, 20_061, 0, 0, None),
    ):
        ui_clock.moment = FROZEN - back
        with store.write() as conn:
            job = create_job(conn, resci_id, "california-gmail")
        ui_clock.moment += timedelta(minutes=12)
        with store.write() as conn:
            update_job(
                conn,
                job,
                status=status,
                remote_id=f"job_{job}",
                rows=rows,
                imported=imported,
                rejected=rejected,
                message=message,
            )
    ui_clock.moment = FROZEN


def test_import_jobs_view(
    snap_compare, ui_app: AppFactory, ui_store: Store, ui_clock: Clock
) -> None:
    """`j` on the ReSci destination: its three jobs, newest first, with state, rows, imported,
    rejected, age and ReSci's message (markup shown as typed, the escape code escaped)."""
    add_jobs(ui_store, ui_clock)

    async def run_before(pilot: Pilot[None]) -> None:
        await on_destination(pilot, RESCI)
        await keys(pilot, "i")
        assert isinstance(pilot.app.screen, ImportJobsScreen)
        pilot.app.screen.query_one(DataTable).move_cursor(row=1)
        await settle(pilot)

    assert snap_compare(ui_app(), terminal_size=BIG, run_before=run_before)


def test_import_jobs_view_small_and_empty(snap_compare, ui_app: AppFactory) -> None:
    """At 80x24, a destination without import jobs says how one starts."""

    async def run_before(pilot: Pilot[None]) -> None:
        await on_destination(pilot, SEGMENT)
        await keys(pilot, "i")

    assert snap_compare(ui_app(), terminal_size=SMALL, run_before=run_before)


async def test_the_palette_opens_import_jobs_and_the_view_follows_the_store(
    ui_app: AppFactory, ui_store: Store, ui_clock: Clock
) -> None:
    add_jobs(ui_store, ui_clock)
    app = ui_app()
    async with app.run_test(size=BIG) as pilot:
        await settle(pilot)
        await palette(pilot, f"import jobs: {RESCI}")
        screen = app.screen
        assert isinstance(screen, ImportJobsScreen) and screen.destination == RESCI
        assert [j.status for j in screen.jobs] == ["processing", "failed", "completed"]
        with ui_store.write() as conn:
            update_job(conn, 3, status=ImportJobStatus.COMPLETED, imported=20_061)
        await pilot.pause(1.5)  # the view reads the store every second while a job is pending
        await settle(pilot)
        assert screen.jobs[0].status == "completed"


def test_alerts_panel(
    snap_compare, ui_app: AppFactory, ui_store: Store, ui_clock: Clock, tmp_path: Path
) -> None:
    """Alerts, from the palette: the channels applied (the URL's token and the password masked),
    what counts as failing, and each destination's alert state with its reason."""
    settings = AlertSettings.model_validate(
        {
            "failures_above": 25,
            "http": {"url": "https://hooks.slack.example/services/T0/B0/tokenABCD1234"},
            "email": {
                "host": "smtp.example.com",
                "username": "alerts",
                "password": "env:SMTP_PASSWORD",
                "from": "console@example.com",
                "to": ["ops@example.com"],
            },
        }
    )
    Commands(ui_store).apply_configuration({}, [], alerts=settings)
    with ui_store.write() as conn:
        ui_clock.moment = FROZEN - timedelta(hours=2)
        change_alert_state(conn, 1, failing=False, reason=None, run_id=None)
        ui_clock.moment = FROZEN - timedelta(minutes=30)
        change_alert_state(
            conn,
            2,
            failing=True,
            reason="import job job_3 still processing after 62 min "
            "(limit 60 min) [@click=app.quit]",
            run_id=40,
        )
    ui_clock.moment = FROZEN
    assert clock.now() == FROZEN

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await palette(pilot, "alerts")
        assert isinstance(pilot.app.screen, AlertsScreen)

    assert snap_compare(ui_app(), terminal_size=BIG, run_before=run_before)
