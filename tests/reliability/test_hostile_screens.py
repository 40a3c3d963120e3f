"""Hostile text, generated, through every screen of the console (issue 15, item 18): a
destination's name, a contact's email, a receiver's reply and a run's note made of Rich markup
(`[@click=app.quit]x[/]`, `[/x]`, links), control characters and escape sequences (a screen
clear, an OSC title, an OSC 8 link, BEL, C1, bidi overrides) and any other text. On
Destinations, Mapping, the Sync summary, Failures and a failure's detail, History and a run's
rows, Audiences, Suppressions, the change line on the panel, and the keys screen: nothing crashes, nothing executes (the console is still running on
the screen it was shown), no raw control character reaches the terminal, and the table cells
hold the text literally (escaped by `printable`, cut with `…` to the column).

A few texts by default; `RETENTION_CONSOLE_FUZZ=N` (the fuzz profile) tries N / 100.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import orjson
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rich.text import Text
from sqlalchemy import select
from textual.pilot import Pilot
from textual.widgets import DataTable

from console.core.text import printable
from console.core.vocab import RowKind, Trigger
from console.destinations.base import Outcome, RowOutcome
from console.destinations.segment.settings import SegmentSettings
from console.engine.destinations import save_destination
from console.engine.retries import RetryPolicy, record_outcomes
from console.engine.runs import RunCounts, finish_run
from console.ui.app import RetentionConsoleApp, make_app
from console.ui.screens.audiences import AudiencesScreen
from console.ui.screens.failures import FailuresScreen
from console.ui.screens.history import HistoryScreen, RunRowsScreen
from console.ui.screens.suppressions import SuppressionsScreen
from state.audiences import save_audience
from state.changes import record_change
from state.db import Store, open_store
from state.models import OutboxRow
from state.outbox import NewRow, queue_rows
from state.runs import start_run
from state.suppressions import add_suppressions

from .conftest import Figures, fuzz_screen_examples

FRAGMENTS = [
    "[@click=app.quit]x[/]",
    "[@click=app.screenshot('console.db','.')]Details[/]",
    "[/x]",
    "[/]",
    "[b]",
    "[link=http://127.0.0.1:9/]here",
    "\x1b[2J",
    "\x1b[?1049l",
    "\x1b]0;pwned\x07",
    "\x1b]8;;http://127.0.0.1:9/\x1b\\link\x1b]8;;\x1b\\",
    "\x07",
    "\r",
    "\n",
    "\t",
    "\x00",
    "\x9b31m",
    "\u202e",
    "%",
    "_",
    "…",
    "=1+2",
    "@x.example",
]
# At least one fragment that shows (an empty or all-blank email is drawn as the table's
# "—" placeholder, which is not the text itself).
VISIBLE = [f for f in FRAGMENTS if f.strip()]
hostile_texts = st.tuples(
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=3),
    st.sampled_from(VISIBLE),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=3),
).map(lambda parts: "".join(parts[0]) + parts[1] + "".join(parts[2]))


def hostile_store(folder: Path, text: str) -> tuple[Store, str]:
    """A store with one Segment destination named after `text` (cut to 60 characters, or
    `d` when it has nothing printable), a failed row whose email and reply are `text`, and a
    run whose note holds it. Returns the store and the destination's name."""
    store = open_store(folder / "console.db")
    name = text[:60] if text.strip() else "d"
    with store.write() as conn:
        dest_id, _ = save_destination(
            conn,
            name,
            SegmentSettings(write_key="hostile-key-0123456789", endpoint="http://127.0.0.1:9"),  # type: ignore[arg-type]
        )
        run_id = start_run(conn, dest_id, Trigger.SCHEDULE)
        message = {"type": "identify", "messageId": "m-1", "traits": {"email": text}}
        queue_rows(
            conn, dest_id, run_id, [NewRow(RowKind.IDENTIFY, "m-1", text, orjson.dumps(message))]
        )
        outbox = OutboxRow.__table__
        row_id = conn.execute(select(outbox.c.id).where(outbox.c.run_id == run_id)).scalar_one()
        record_outcomes(
            conn, dest_id, run_id, [RowOutcome(row_id, Outcome.FAILED, 400, text)], RetryPolicy()
        )
        finish_run(
            conn,
            run_id,
            dest_id,
            RunCounts(added=1, rejected=1, requests=1),
            "failed",
            f"{name}: failed ({text})",
            errored=False,
        )
        # The Audiences and Suppressions screens and the panel's change line show names and
        # notes an operator or a file chose.
        save_audience(conn, name, "email_domain = 'x.com'")
        add_suppressions(conn, ["0" * 32], source=text)
        record_change(conn, "destination", name, "save", {"schedule_minutes": [15, 30]}, text)
    return store, name


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(2):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def assert_literal(app: RetentionConsoleApp, selector: str, column: str, text: str) -> None:
    """Every cell of the column is Text (never markup) holding the text as `printable` shows
    it: its first line, cut with `…` to the column's width at most (`ellipsize`)."""
    table = app.screen.query_one(selector, DataTable)
    shown = printable(text)
    for row_key in table.rows:
        cell = table.get_cell(row_key, column)
        assert isinstance(cell, Text), cell
        plain = cell.plain
        assert shown.startswith(plain.removesuffix("…").rstrip()), (plain, shown)


def assert_untouched(app: RetentionConsoleApp) -> None:
    assert app.is_running and app.return_code is None
    from tests.ui.pilot import painted

    drawn = painted(app)
    for control in ("\x1b", "\x07", "\x00", "\x9b", "\r"):
        assert control not in drawn, repr(control)


async def visit_every_screen(app: RetentionConsoleApp, text: str) -> None:
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        assert_literal(app, "#destinations", "name", text[:60] if text.strip() else "d")
        assert_untouched(app)
        for key in ("m", "s", "question_mark", "escape"):
            await pilot.press(key)
            await settle(pilot)
            assert_untouched(app)
        await pilot.press("f")
        await settle(pilot)
        assert isinstance(app.screen, FailuresScreen)
        assert_literal(app, "#failures", "email", text)
        assert_literal(app, "#failures", "feedback", text)
        await pilot.press("enter")  # the detail, with the payload sent
        await settle(pilot)
        assert_untouched(app)
        await pilot.press("h")
        await settle(pilot)
        assert isinstance(app.screen, HistoryScreen)
        assert_untouched(app)
        await pilot.press("enter")  # the run's rows
        await settle(pilot)
        assert isinstance(app.screen, RunRowsScreen)
        assert_literal(app, "#run-rows", "email", text)
        assert_untouched(app)
        await pilot.click("#run-rows", offset=(3, 1))
        await settle(pilot)
        assert_untouched(app)
        await pilot.press("A")
        await settle(pilot)
        assert isinstance(app.screen, AudiencesScreen)
        assert_literal(app, "#audiences", "name", text[:60] if text.strip() else "d")
        assert_untouched(app)
        await pilot.press("S")
        await settle(pilot)
        assert isinstance(app.screen, SuppressionsScreen)
        assert_literal(app, "#suppressions", "source", text)
        assert_untouched(app)


@settings(
    max_examples=fuzz_screen_examples(3),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(text=hostile_texts)
def test_hostile_text_through_every_screen(text: str, figures: Figures) -> None:
    figures.screens_fuzzed += 1
    event("markup" if "[" in text else "plain")
    with tempfile.TemporaryDirectory() as folder:
        store, _ = hostile_store(Path(folder), text)
        try:
            app = make_app(store, start_engine=False, cursor_blink=False)
            asyncio.run(visit_every_screen(app, text))
        finally:
            store.dispose()
