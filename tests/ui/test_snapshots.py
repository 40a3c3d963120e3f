"""One snapshot per screen and per form error state, at a fixed terminal size, with the clock
frozen at 2026-11-20T09:00:00Z, the scheduler off and the store filled the same way every time.

Each test drives the app into its state through Pilot (keys, as an operator would) in
`run_before`, and waits for every worker before the shot. Update the SVGs with
`pytest tests/ui --snapshot-update` only after reading the report of what changed.
"""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from tests.ui.conftest import RESCI, SEGMENT, AppFactory

BIG = (100, 32)
SMALL = (80, 24)


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(2):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def keys(pilot: Pilot[None], *pressed: str) -> None:
    for key in pressed:
        await pilot.press(key)
        await settle(pilot)


async def on_destination(pilot: Pilot[None], name: str) -> None:
    await settle(pilot)
    table = pilot.app.screen.query_one("#destinations", DataTable)
    table.move_cursor(row=table.get_row_index(name))
    await settle(pilot)


def test_destinations(snap_compare, ui_app: AppFactory) -> None:
    """Destinations: both kinds with schedule, last run and last result; the panel shows the
    highlighted ReSci destination with its key masked to the last four characters."""

    async def run_before(pilot: Pilot[None]) -> None:
        await on_destination(pilot, RESCI)

    assert snap_compare(ui_app(), terminal_size=BIG, run_before=run_before)


def test_destinations_small_terminal(snap_compare, ui_app: AppFactory) -> None:
    """Destinations at 80x24: short screen labels, every action key still in the footer."""

    async def run_before(pilot: Pilot[None]) -> None:
        await on_destination(pilot, SEGMENT)

    assert snap_compare(ui_app(), terminal_size=SMALL, run_before=run_before)


def test_segment_form_errors(snap_compare, ui_app: AppFactory) -> None:
    """Add a Segment destination, saved empty with a bad schedule: each problem under its field
    (name required, Write Key empty, schedule out of range) and a count on top."""

    async def run_before(pilot: Pilot[None]) -> None:
        await keys(pilot, "a", "enter")
        pilot.app.screen.query_one("#f-schedule_minutes", Input).value = "0"
        await keys(pilot, "ctrl+s")

    assert snap_compare(ui_app(), terminal_size=BIG, run_before=run_before)


def test_resci_form_errors(snap_compare, ui_app: AppFactory) -> None:
    """Add a ReSci destination with a Site ID that is not a number and no API key: both
    refused inline, as the operator would see them after ctrl+s."""

    async def run_before(pilot: Pilot[None]) -> None:
        await keys(pilot, "a", "down", "enter")
        screen = pilot.app.screen
        screen.query_one("#f-name", Input).value = "resci-staging"
        screen.query_one("#f-site_id", Input).value = "site-7"
        await keys(pilot, "ctrl+s")

    assert snap_compare(ui_app(), terminal_size=BIG, run_before=run_before)


def test_segment_edit_form(snap_compare, ui_app: AppFactory) -> None:
    """Edit segment-prod: the Write Key field is empty, its placeholder the masked key; the
    seed's switches, group, revenue metric and the five sync filters are filled in."""

    async def run_before(pilot: Pilot[None]) -> None:
        await on_destination(pilot, SEGMENT)
        await keys(pilot, "e")

    assert snap_compare(ui_app(), terminal_size=BIG, run_before=run_before)


def test_resci_edit_form(snap_compare, ui_app: AppFactory) -> None:
    """Edit resci-prod: API key masked, label and description, Site ID, Enable On-Site, and
    the exported audience picked from the store's audiences."""

    async def run_before(pilot: Pilot[None]) -> None:
        await on_destination(pilot, RESCI)
        await keys(pilot, "e")

    assert snap_compare(ui_app(), terminal_size=BIG, run_before=run_before)


def test_confirm_remove(snap_compare, ui_app: AppFactory) -> None:
    """x on a destination asks once, saying what goes with it."""

    async def run_before(pilot: Pilot[None]) -> None:
        await on_destination(pilot, SEGMENT)
        await keys(pilot, "x")

    assert snap_compare(ui_app(), terminal_size=BIG, run_before=run_before)


def test_mapping_resci(snap_compare, ui_app: AppFactory) -> None:
    """Mapping of resci-prod: the exported audience, console field → ReSci field, and custom
    event → reserved event."""

    async def run_before(pilot: Pilot[None]) -> None:
        await on_destination(pilot, RESCI)
        await keys(pilot, "m")

    assert snap_compare(ui_app(), terminal_size=BIG, run_before=run_before)


def test_mapping_reserved_name_refused(snap_compare, ui_app: AppFactory) -> None:
    """Typing the reserved `search` as a custom event: the dialog refuses it with the reason."""

    async def run_before(pilot: Pilot[None]) -> None:
        await on_destination(pilot, RESCI)
        await keys(pilot, "m")
        pilot.app.screen.query_one("#events", DataTable).focus()
        await keys(pilot, "a")
        pilot.app.screen.query_one("#m-custom", Input).value = "search"
        await keys(pilot, "ctrl+s")

    assert snap_compare(ui_app(), terminal_size=BIG, run_before=run_before)


def test_mapping_duplicate_field_refused(snap_compare, ui_app: AppFactory) -> None:
    """Mapping a second console field onto full_name: refused, naming the field already there."""

    async def run_before(pilot: Pilot[None]) -> None:
        await on_destination(pilot, RESCI)
        await keys(pilot, "m")
        pilot.app.screen.query_one("#user-fields", DataTable).focus()
        await keys(pilot, "a")
        screen = pilot.app.screen
        screen.query_one("#m-source").value = "last_name"  # type: ignore[attr-defined]
        screen.query_one("#m-target").value = "full_name"  # type: ignore[attr-defined]
        await keys(pilot, "ctrl+s")

    assert snap_compare(ui_app(), terminal_size=BIG, run_before=run_before)


def test_mapping_segment(snap_compare, ui_app: AppFactory) -> None:
    """Mapping of segment-prod: the revenue metric and the event names Reclaim sends."""

    async def run_before(pilot: Pilot[None]) -> None:
        await on_destination(pilot, SEGMENT)
        await keys(pilot, "m")

    assert snap_compare(ui_app(), terminal_size=BIG, run_before=run_before)


def test_summary(snap_compare, ui_app: AppFactory) -> None:
    """Sync summary of all destinations: one row a day with completions, failures, suppressed
    and today's queue, and the 30-day charts of completions and failures."""
    assert snap_compare(ui_app(), terminal_size=BIG, run_before=lambda p: keys(p, "s"))


def test_summary_at_80_columns(snap_compare, ui_app: AppFactory) -> None:
    """At 80x24 the Summary keeps completions, failures, suppressed and queued on screen and
    leaves out the contacts/events split of the completions."""
    assert snap_compare(ui_app(), terminal_size=SMALL, run_before=lambda p: keys(p, "s"))


def test_failures(snap_compare, ui_app: AppFactory) -> None:
    """Failures: per email the destination's feedback, status, time, destination, kind, HTTP
    status and attempts; the panel shows the highlighted row in full."""
    assert snap_compare(ui_app(), terminal_size=BIG, run_before=lambda p: keys(p, "f"))


def test_failures_filtered_with_payload(snap_compare, ui_app: AppFactory) -> None:
    """`/ yahoo` narrows the view (title says so); Enter opens the payload that was sent."""

    async def run_before(pilot: Pilot[None]) -> None:
        await keys(pilot, "f", "slash")
        await pilot.press(*"yahoo")
        await pilot.pause(0.4)
        await keys(pilot, "enter", "down", "enter")

    assert snap_compare(ui_app(), terminal_size=BIG, run_before=run_before)


def test_failures_small_terminal(snap_compare, ui_app: AppFactory) -> None:
    """Failures at 80x24: email, feedback, status and time stay in view, the rest scrolls in
    with → and is all in the panel."""
    assert snap_compare(ui_app(), terminal_size=SMALL, run_before=lambda p: keys(p, "f"))


def test_history(snap_compare, ui_app: AppFactory) -> None:
    """History at 100 columns: every run with trigger, destination, start, delivered,
    rejected, suppressed and duration (added, changed and removed are on the highlighted
    run's line below); the top run is still going and shows its live count."""
    assert snap_compare(ui_app(), terminal_size=BIG, run_before=lambda p: keys(p, "h"))


def test_run_rows(snap_compare, ui_app: AppFactory) -> None:
    """Enter on a finished run: the rows it delivered and failed, with the feedback."""
    assert snap_compare(
        ui_app(), terminal_size=BIG, run_before=lambda p: keys(p, "h", "down", "down", "enter")
    )


def test_keys(snap_compare, ui_app: AppFactory) -> None:
    """`?` on Failures: every key of the screen with what it does, then the global ones."""
    assert snap_compare(
        ui_app(), terminal_size=BIG, run_before=lambda p: keys(p, "f", "question_mark")
    )
