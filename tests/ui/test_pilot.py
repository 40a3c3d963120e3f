"""Pilot tests: drive the console as an operator would and check what the store, the engine
and the screens say afterwards."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from rich.console import Console
from sqlalchemy import select
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from console.destinations.resci.settings import ResciSettings
from console.destinations.segment.settings import SegmentSettings
from console.engine.destinations import get_destination, list_destinations
from console.sandbox import SandboxServer, SegmentSandbox
from console.ui.app import RetentionConsoleApp
from console.ui.screens import failures as failures_screen
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.destination_form import DestinationForm
from console.ui.screens.failures import FailuresScreen
from console.ui.screens.history import HistoryScreen
from console.ui.screens.keys import KeysScreen
from console.ui.screens.mapping_forms import MappingDialog
from console.ui.screens.summary import SummaryScreen
from state.db import Store, open_store
from state.models import OutboxRow
from state.queries import FailureFilter, failures_page, runs_page
from state.runs import acquire_lease, owner_id, release_lease
from tests.ui.conftest import (
    RESCI,
    RESCI_KEY,
    SEGMENT,
    SEGMENT_KEY,
    AppFactory,
    Clock,
    fill_store,
)

SIZE = (100, 32)


async def settle(pilot: Pilot[None], rounds: int = 2) -> None:
    """Let key presses land and every worker (SQL, engine) finish."""
    for _ in range(rounds):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def press(pilot: Pilot[None], *keys: str) -> None:
    await pilot.press(*keys)
    await settle(pilot)


def table_column(app: RetentionConsoleApp, selector: str, column: str) -> list[str]:
    table = app.screen.query_one(selector, DataTable)
    return [str(table.get_cell(row_key, column)) for row_key in table.rows]


def painted(app: RetentionConsoleApp) -> str:
    """Everything on the terminal right now, as plain text (what the SVG export draws)."""
    width, height = app.size
    console = Console(
        width=width, height=height, file=io.StringIO(), force_terminal=True, record=True
    )
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return console.export_text()


async def select_row(pilot: Pilot[None], selector: str, key: str) -> None:
    table = pilot.app.screen.query_one(selector, DataTable)
    table.move_cursor(row=table.get_row_index(key))
    await settle(pilot)


# -- destinations -------------------------------------------------------------------------------


async def test_add_segment_destination(ui_app: AppFactory, ui_store: Store) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "a")
        await press(pilot, "enter")  # Segment is highlighted first
        assert isinstance(app.screen, DestinationForm)
        await pilot.press(*"segment-eu")  # the name field has the focus
        app.screen.query_one("#f-write_key", Input).value = "a-brand-new-write-key-QRST"
        app.screen.query_one("#f-endpoint", Input).value = "eu"
        app.screen.query_one("#f-filters-states", Input).value = "ca, ny"
        await press(pilot, "ctrl+s")
        assert not isinstance(app.screen, DestinationForm)
        assert "segment-eu" in table_column(app, "#destinations", "name")
    with ui_store.read() as conn:
        record = get_destination(conn, "segment-eu")
    assert record is not None and isinstance(record.settings, SegmentSettings)
    assert record.settings.endpoint == "https://events.eu1.segmentapis.com"
    assert record.settings.filters.states == ["ca", "ny"]
    assert record.settings.write_key.get_secret_value() == "a-brand-new-write-key-QRST"


async def test_form_errors_are_shown_and_nothing_is_saved(
    ui_app: AppFactory, ui_store: Store
) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "a", "down", "enter")  # ReSci
        form = app.screen
        assert isinstance(form, DestinationForm) and form.kind == "resci"
        form.query_one("#f-site_id", Input).value = "site-7"
        await press(pilot, "ctrl+s")
        assert isinstance(app.screen, DestinationForm)
        errors = {
            str(w.id): str(w.render()) for w in form.query(".field-error") if w.has_class("-shown")
        }
        assert "a name is required" in errors["error-name"]
        assert "choose an authorization or enter an API key" in errors["error-api_key"]
        assert "Site ID is a number" in errors["error-site_id"]
        assert "3 problems" in str(form.query_one("#form-problems", Static).render())
        await press(pilot, "escape")
        assert not isinstance(app.screen, DestinationForm)
    with ui_store.read() as conn:
        assert [d.name for d in list_destinations(conn)] == [RESCI, SEGMENT]


async def test_edit_keeps_the_stored_key_and_never_shows_it(
    ui_app: AppFactory, ui_store: Store
) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select_row(pilot, "#destinations", SEGMENT)
        assert SEGMENT_KEY not in painted(app)
        assert "••••AbCd" in painted(app)
        await press(pilot, "e")
        form = app.screen
        assert isinstance(form, DestinationForm)
        key = form.query_one("#f-write_key", Input)
        assert key.value == "" and key.password and "••••AbCd" in key.placeholder
        assert SEGMENT_KEY not in painted(app)
        form.query_one("#f-group_id", Input).value = "vip"
        await press(pilot, "ctrl+s")
        assert not isinstance(app.screen, DestinationForm)
    with ui_store.read() as conn:
        record = get_destination(conn, SEGMENT)
    assert record is not None and isinstance(record.settings, SegmentSettings)
    assert record.settings.group_id == "vip"
    assert record.settings.write_key.get_secret_value() == SEGMENT_KEY
    assert record.settings.reclaim_events == ["Viewed Product Reclaim", "Add To Cart Reclaim"]


async def test_resci_form_never_shows_the_api_key(ui_app: AppFactory) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select_row(pilot, "#destinations", RESCI)
        await press(pilot, "e")
        assert isinstance(app.screen, DestinationForm)
        text = painted(app)
        assert RESCI_KEY not in text and "••••WxYz" in text


async def test_remove_asks_once_then_removes(ui_app: AppFactory, ui_store: Store) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select_row(pilot, "#destinations", SEGMENT)
        await press(pilot, "x", "n")
        assert table_column(app, "#destinations", "name") == [RESCI, SEGMENT]
        await press(pilot, "x", "y")
        assert table_column(app, "#destinations", "name") == [RESCI]
    with ui_store.read() as conn:
        assert [d.name for d in list_destinations(conn)] == [RESCI]
        assert failures_page(conn, FailureFilter(destination=SEGMENT)) == []


async def test_remove_during_a_run_is_refused_and_keeps_everything(
    ui_app: AppFactory, ui_store: Store
) -> None:
    """A run (here: another engine) holds the destination's lease: the removal waits its
    patience out, then says why; nothing is deleted, and once the run ends it goes through."""
    with ui_store.write() as conn:
        segment = get_destination(conn, SEGMENT)
        assert segment is not None
        runner = owner_id()
        assert acquire_lease(conn, segment.id, runner) is None
        failures_before = failures_page(conn, FailureFilter(destination=SEGMENT))
    assert failures_before
    app = ui_app()
    app.engine.commands.remove_wait_seconds = 0.3
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select_row(pilot, "#destinations", SEGMENT)
        await press(pilot, "x", "y")
        await settle(pilot)
        toasts = [n.message for n in app._notifications]
        assert any(
            f"destination {SEGMENT} is being delivered by " in t
            and "try again when the run ends" in t
            for t in toasts
        ), toasts
        assert table_column(app, "#destinations", "name") == [RESCI, SEGMENT]
        with ui_store.read() as conn:
            assert failures_page(conn, FailureFilter(destination=SEGMENT)) == failures_before
        with ui_store.write() as conn:
            release_lease(conn, segment.id, runner)
        await press(pilot, "x", "y")
        assert table_column(app, "#destinations", "name") == [RESCI]


async def test_confirmation_answers_true_or_false(ui_app: AppFactory) -> None:
    """The confirmation is a ModalScreen[bool]: y gives True; n and Escape give False."""
    app = ui_app()
    answers: list[bool | None] = []
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for key in ("y", "n", "escape"):
            app.push_screen(ConfirmScreen("Sure?"), answers.append)
            await settle(pilot)
            await press(pilot, key)
    assert answers == [True, False, False]


async def test_o_switches_off_and_p_pauses(ui_app: AppFactory, ui_store: Store) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select_row(pilot, "#destinations", SEGMENT)
        await press(pilot, "o")
        assert table_column(app, "#destinations", "enabled")[1] == "off"
        # Switching on asks once, with what the next run sends (issue 12).
        await press(pilot, "o")
        assert isinstance(app.screen, ConfirmScreen)
        await press(pilot, "y", "p")
        assert table_column(app, "#destinations", "enabled")[1] == "paused"
    with ui_store.read() as conn:
        record = get_destination(conn, SEGMENT)
    assert record is not None and record.enabled and record.paused


# -- mapping ------------------------------------------------------------------------------------


async def open_mapping(pilot: Pilot[None], destination: str) -> None:
    await settle(pilot)
    await select_row(pilot, "#destinations", destination)
    await press(pilot, "m")


async def test_mapping_refuses_a_reserved_name_as_custom_event(
    ui_app: AppFactory, ui_store: Store
) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_mapping(pilot, RESCI)
        app.screen.query_one("#events", DataTable).focus()
        await press(pilot, "a")
        dialog = app.screen
        assert isinstance(dialog, MappingDialog)
        await pilot.press(*"click")
        await press(pilot, "enter")
        assert isinstance(app.screen, MappingDialog)
        error = str(dialog.query_one("#dialog-error", Static).render())
        assert "'click' is a ReSci reserved event and cannot be used as a custom event" in error
        dialog.query_one("#m-custom", Input).value = "Checkout Started Reclaim"
        dialog.query_one("#m-reserved").value = "checkout_success"  # type: ignore[attr-defined]
        await press(pilot, "ctrl+s")
        assert not isinstance(app.screen, MappingDialog)
        assert "Checkout Started Reclaim" in table_column(app, "#events", "custom")
    with ui_store.read() as conn:
        record = get_destination(conn, RESCI)
    assert isinstance(record.settings, ResciSettings)  # type: ignore[union-attr]
    assert record.settings.events["Checkout Started Reclaim"] == "checkout_success"  # type: ignore[union-attr]
    assert "click" not in record.settings.events  # type: ignore[union-attr]


async def test_mapping_refuses_a_duplicate_target_and_the_last_removal(
    ui_app: AppFactory, ui_store: Store
) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_mapping(pilot, RESCI)
        app.screen.query_one("#user-fields", DataTable).focus()
        await press(pilot, "a")
        dialog = app.screen
        assert isinstance(dialog, MappingDialog)
        dialog.query_one("#m-source").value = "last_name"  # type: ignore[attr-defined]
        dialog.query_one("#m-target").value = "full_name"  # type: ignore[attr-defined]
        await press(pilot, "ctrl+s")
        error = str(dialog.query_one("#dialog-error", Static).render())
        assert "full_name already receives first_name" in error
        await press(pilot, "escape")
        # Remove both mapped fields: the second removal is refused with its reason.
        app.screen.query_one("#user-fields", DataTable).focus()
        await press(pilot, "x", "y")  # a live mapping: asked once
        assert table_column(app, "#user-fields", "source") == ["address_city"]
        await press(pilot, "x")
        assert table_column(app, "#user-fields", "source") == ["address_city"]
        error = str(app.screen.query_one("#mapping-error", Static).render())
        assert "at least one user field must stay mapped" in error
    with ui_store.read() as conn:
        record = get_destination(conn, RESCI)
    assert record.settings.export.fields == {"address_city": "city"}  # type: ignore[union-attr]


async def test_segment_mapping_sets_reclaim_events_and_revenue(
    ui_app: AppFactory, ui_store: Store
) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_mapping(pilot, SEGMENT)
        await press(pilot, "a")
        app.screen.query_one("#m-text", Input).value = "Viewed Product Reclaim"
        await press(pilot, "enter")
        error = str(app.screen.query_one("#dialog-error", Static).render())
        assert "Viewed Product Reclaim is already sent" in error
        app.screen.query_one("#m-text", Input).value = "Checkout Started Reclaim"
        await press(pilot, "enter")
        await press(pilot, "v")
        app.screen.query_one("#m-text", Input).value = "cart_amount"
        await press(pilot, "enter")
    with ui_store.read() as conn:
        settings = get_destination(conn, SEGMENT).settings  # type: ignore[union-attr]
    assert isinstance(settings, SegmentSettings)
    assert settings.reclaim_events[-1] == "Checkout Started Reclaim"
    assert settings.revenue_metric == "cart_amount"


# -- failures -----------------------------------------------------------------------------------


async def test_filter_with_slash(ui_app: AppFactory) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "f")
        assert len(table_column(app, "#failures", "email")) == 60
        await press(pilot, "slash")
        await pilot.press(*"yahoo")
        await pilot.pause(0.4)
        await press(pilot, "enter")
        emails = table_column(app, "#failures", "email")
        assert emails and all(e.endswith("@yahoo.com") for e in emails)
        assert "filter “yahoo”" in str(app.screen.query_one("#title", Static).render())
        # Feedback text matches too.
        await press(pilot, "slash")
        app.screen.query_one("#filter-input", Input).value = "invalid email"
        await press(pilot, "enter")
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        assert {r.destination for r in screen.rows} == {RESCI}
        # Escape clears the filter first, and only then goes back.
        await press(pilot, "escape")
        assert len(table_column(app, "#failures", "email")) == 60
        assert isinstance(app.screen, FailuresScreen)


async def test_enter_shows_the_payload_without_secrets(ui_app: AppFactory) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "f", "c")
        await press(pilot, "down", "down", "enter")  # segment-prod
        await press(pilot, "enter")
        payload = str(app.screen.query_one("#failure-payload", Static).render())
        assert '"type": "identify"' in payload or '"type": "track"' in payload
        assert SEGMENT_KEY not in painted(app)


@pytest.fixture
def sandbox_store(tmp_path: Path, ui_clock: Clock) -> Iterator[tuple[Store, SegmentSandbox]]:
    """The test store with segment-prod pointed at a live Segment sandbox."""
    sandbox = SegmentSandbox()
    with SandboxServer(sandbox, port=0) as server:
        store = open_store(tmp_path / "sandboxed.db")
        fill_store(store, ui_clock, segment_endpoint=server.url)
        yield store, sandbox
        store.dispose()


async def test_retry_goes_through_the_engine_and_updates_the_row(
    ui_app: AppFactory, sandbox_store: tuple[Store, SegmentSandbox]
) -> None:
    store, sandbox = sandbox_store
    app = ui_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "f", "c", "down", "down", "enter")  # segment-prod only
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        first = screen.rows[0]
        assert table_column(app, "#failures", "status")[0] == "failed"
        await press(pilot, "R")
        await settle(pilot, rounds=4)
        assert table_column(app, "#failures", "status")[0] == "delivered"
        # The row stays where it was, its status changed in place.
        assert screen.rows[0].id == first.id
    with store.read() as conn:
        status = conn.execute(
            select(OutboxRow.__table__.c.status, OutboxRow.__table__.c.message_id).where(
                OutboxRow.__table__.c.id == first.id
            )
        ).one()
        runs = runs_page(conn, SEGMENT, limit=1)
    assert status.status == "delivered"
    assert sandbox.message_ids[status.message_id] == 1
    assert runs[0].trigger == "manual" and runs[0].delivered >= 1


async def test_failures_refresh_again_once_a_retry_outcome_was_shown(
    ui_app: AppFactory,
    sandbox_store: tuple[Store, SegmentSandbox],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once a retry's outcome has been shown (the row in place: the test above), the page
    refreshes (the delivered row leaves the list) and later runs refresh it again."""
    monkeypatch.setattr(failures_screen, "RETRY_OUTCOME_SECONDS", 0.2)
    store, _sandbox = sandbox_store
    app = ui_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "f", "c", "down", "down", "enter")
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        first = screen.rows[0]
        await press(pilot, "R")
        await settle(pilot, rounds=4)
        await pilot.pause(0.3)
        await settle(pilot)
        assert first.id not in [row.id for row in screen.rows]
        assert screen.states == {}
        # A new failure recorded by a later run shows without touching a key.
        count = len(screen.rows)
        with store.write() as conn:
            conn.execute(
                OutboxRow.__table__.update()
                .where(OutboxRow.__table__.c.id == first.id)
                .values(status="failed")
            )
        app.engine_tick += 1
        await settle(pilot)
        assert len(screen.rows) == count + 1


async def test_marked_rows_retry_together(
    ui_app: AppFactory, sandbox_store: tuple[Store, SegmentSandbox]
) -> None:
    store, _sandbox = sandbox_store
    app = ui_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "f", "c", "down", "down", "enter")
        await press(pilot, "space", "space")
        assert "2 marked" in str(app.screen.query_one("#title", Static).render())
        await press(pilot, "R")
        await settle(pilot, rounds=4)
        assert table_column(app, "#failures", "status")[:3] == ["delivered", "delivered", "failed"]


async def test_export_writes_the_filtered_view(ui_app: AppFactory, tmp_path: Path) -> None:
    app = ui_app(export_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "f", "slash")
        await pilot.press(*"gmail")
        await pilot.pause(0.4)
        await press(pilot, "enter", "J", "E")
    exported = orjson.loads((tmp_path / "failures-20261120-090000.json").read_bytes())
    assert exported and all(row["email"].endswith("@gmail.com") for row in exported)
    lines = (tmp_path / "failures-20261120-090000.csv").read_text().splitlines()
    assert lines[0].startswith("email,destination,kind,feedback")
    assert len(lines) == len(exported) + 1


# -- engine -------------------------------------------------------------------------------------


async def test_run_now_delivers_through_the_engine(
    ui_app: AppFactory, sandbox_store: tuple[Store, SegmentSandbox]
) -> None:
    store, sandbox = sandbox_store
    app = ui_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select_row(pilot, "#destinations", SEGMENT)
        await press(pilot, "r")
        await settle(pilot, rounds=4)
        assert app.last_results[SEGMENT].status == "ok"
        await press(pilot, "h")
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        top = screen.runs[0]
        assert (top.destination, top.trigger, top.status) == (SEGMENT, "manual", "ok")
    assert sandbox.stats()["messages"] == 2  # today's two queued rows


async def test_test_connection_shows_the_reply(
    ui_app: AppFactory, sandbox_store: tuple[Store, SegmentSandbox]
) -> None:
    store, _ = sandbox_store
    app = ui_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select_row(pilot, "#destinations", SEGMENT)
        await press(pilot, "t")
        detail = str(app.screen.query_one("#detail-text", Static).render())
        assert "Test connection OK: Segment accepted the write key" in detail


async def test_a_store_readable_by_others_is_warned_about_on_screen(
    ui_app: AppFactory, ui_store: Store
) -> None:
    assert ui_store.path is not None
    async with ui_app().run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not pilot.app._notifications
    ui_store.path.chmod(0o644)
    async with ui_app().run_test(size=SIZE) as pilot:
        await settle(pilot)
        (notice,) = list(pilot.app._notifications)
        assert notice.severity == "warning"
        assert notice.message == (
            f"{ui_store.path} is readable by other users; run: chmod 600 {ui_store.path}"
        )


async def test_wide_columns_follow_a_resized_terminal(ui_app: AppFactory) -> None:
    """Over SSH the terminal is resized under the console: the feedback and last-result
    columns take the new room (and give it back), marks stay."""
    app = ui_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        destinations = app.screen.query_one("#destinations", DataTable)
        narrow_result = destinations.columns["result"].width
        await press(pilot, "f", "space")
        failures = app.screen
        assert isinstance(failures, FailuresScreen)
        narrow_feedback = failures.feedback_width
        marked = set(failures.marked)

        await pilot.resize_terminal(160, 40)
        await settle(pilot)
        assert failures.feedback_width > narrow_feedback + 30
        table = failures.query_one("#failures", DataTable)
        assert table.columns["feedback"].width == failures.feedback_width
        assert failures.marked == marked and table.row_count == len(failures.rows)
        await press(pilot, "d")
        assert destinations.columns["result"].width > narrow_result + 30

        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        assert destinations.columns["result"].width == narrow_result
        await press(pilot, "f")
        assert failures.feedback_width == narrow_feedback


# -- navigation ---------------------------------------------------------------------------------


async def test_escape_goes_back(ui_app: AppFactory) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "f", "h")
        assert app.current_mode == "history"
        await press(pilot, "escape")
        assert app.current_mode == "failures"
        await press(pilot, "escape")
        assert app.current_mode == "destinations"
        # A drill-down: a summary day opens its failures; Escape returns to the summary.
        await press(pilot, "s", "enter")
        drilled = app.screen
        assert isinstance(drilled, FailuresScreen)
        assert drilled.flt.day == "2026-11-20" and drilled.flt.destination == SEGMENT
        assert {r.at[:10] for r in drilled.rows} == {"2026-11-20"}
        await press(pilot, "escape")
        assert isinstance(app.screen, SummaryScreen)


async def test_question_mark_lists_every_key(ui_app: AppFactory) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "f", "question_mark")
        assert isinstance(app.screen, KeysScreen)
        text = painted(app)
        for words in ("Filter by email", "Retry the marked rows", "Export the filtered view",
                      "Go to History", "Command palette"):  # fmt: skip
            assert words in text
        await press(pilot, "escape")
        assert isinstance(app.screen, FailuresScreen)


async def test_palette_jumps_to_a_destinations_failures(ui_app: AppFactory) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "colon")
        await pilot.press(*"ures: res")
        await pilot.pause(0.3)
        await press(pilot, "enter")
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        assert screen.flt.destination == RESCI
        assert {r.destination for r in screen.rows} == {RESCI}


async def test_retry_every_failure_of_a_day(
    ui_app: AppFactory, sandbox_store: tuple[Store, SegmentSandbox]
) -> None:
    store, _sandbox = sandbox_store
    app = ui_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "s", "down", "down", "enter")  # 2026-11-19, segment-prod
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        assert (screen.flt.day, screen.flt.destination) == ("2026-11-19", SEGMENT)
        assert table_column(app, "#failures", "status") == ["failed"] * 3
        await press(pilot, "D")
        assert "Retry all 3 failures of 2026-11-19 (segment-prod)?" in painted(app)
        await press(pilot, "y")
        await settle(pilot, rounds=4)
        assert table_column(app, "#failures", "status") == ["delivered"] * 3
    with store.read() as conn:
        assert failures_page(conn, FailureFilter(destination=SEGMENT, day="2026-11-19")) == []


def test_no_snapshot_or_screenshot_holds_a_secret() -> None:
    """Every SVG the project keeps shows keys masked, never in full."""
    from console.demo import RESCI_API_KEY, SEGMENT_WRITE_KEY

    root = Path(__file__).resolve().parents[2]
    pictures = [
        *(Path(__file__).parent / "__snapshots__").rglob("*.svg"),
        *(root / "screenshots").glob("*.svg"),
    ]
    assert pictures
    for picture in pictures:
        text = picture.read_text(encoding="utf-8")
        for secret in (SEGMENT_KEY, RESCI_KEY, SEGMENT_WRITE_KEY, RESCI_API_KEY):
            assert secret not in text, picture.name
            assert secret[:12] not in text, picture.name


async def test_failures_pages_turn_with_brackets(ui_app: AppFactory, ui_store: Store) -> None:
    """Keyset pages: ] reads the page past the last row shown, [ the one before, and the
    pages together are the whole listing in order, each row once."""
    with ui_store.read() as conn:
        everything = [row.id for row in failures_page(conn, limit=1000)]
    app = ui_app(page_size=25)  # the page_size engine setting
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "f")
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        pages = [[row.id for row in screen.rows]]
        for _ in range(2):
            await press(pilot, "right_square_bracket")
            pages.append([row.id for row in screen.rows])
        title = str(screen.query_one("#title", Static).render())
        assert "rows 51–60 of 60" in title
        await press(pilot, "right_square_bracket")  # no page past the last: nothing moves
        assert [row.id for row in screen.rows] == pages[-1]
        await press(pilot, "left_square_bracket")
        assert [row.id for row in screen.rows] == pages[1]
    assert [len(page) for page in pages] == [25, 25, 10]
    assert [i for page in pages for i in page] == everything
