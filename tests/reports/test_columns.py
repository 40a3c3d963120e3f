"""The column specs: the console's cells, the command line's report and the export agree, numbers
are never cut, text is cut with `…`, widths follow the data and the terminal, and outside text
is escaped everywhere but in the exports (which hold the raw values)."""

from __future__ import annotations

import csv
import io

import orjson

from console.reports.views import FAILURES, RUNS, SUMMARY
from state.failures import FailureRow
from state.history import RunRow
from state.summary import SummaryRow

FEEDBACK = "[@click=app.quit]Details[/] invalid \x1b]0;pwned\x07 " + "x" * 200


def failure(**changes: object) -> FailureRow:
    values: dict[str, object] = {
        "id": 7,
        "email": "a@example.com",
        "destination": "[/x]",
        "kind": "identify",
        "feedback": FEEDBACK,
        "http_status": 400,
        "attempts": 2,
        "at": "2026-11-20T09:00:00.000Z",
        "message_id": "m-7",
    }
    values.update(changes)
    return FailureRow(**values)  # type: ignore[arg-type]


def test_report_escapes_cuts_text_and_keeps_numbers_whole() -> None:
    header, line = FAILURES.report_lines([failure(attempts=123456)])
    assert header.split() == [
        "at",
        "email",
        "destination",
        "kind",
        "status",
        "attempts",
        "feedback",
    ]
    assert "\x1b" not in line and "\\x1b]0;pwned\\x07" in line
    assert "123456" in line and "400" in line
    feedback = line[header.index("feedback") :]
    assert len(feedback) == 80 and feedback.endswith("…")


def test_a_narrow_terminal_gives_up_the_split_columns_first() -> None:
    """At 80 columns the Summary shows its totals and leaves out the contacts/events split
    (which the completions sum up), instead of pushing failures and queued off screen; History
    keeps the outcome and leaves the plan step's split to the highlighted run's line."""
    wide = SUMMARY.screen_widths(120)
    narrow = SUMMARY.screen_widths(80)
    assert list(wide) == list(SUMMARY.screen)
    assert list(narrow) == [n for n in SUMMARY.screen if n not in ("contacts", "events")]
    assert sum(w + 2 for w in narrow.values()) + 4 <= 80
    # Only as many as it takes: at 90 columns the events column alone goes.
    assert "contacts" in SUMMARY.screen_widths(90) and "events" not in SUMMARY.screen_widths(90)
    # History at 80 columns keeps each run's outcome (delivered, rejected) on screen.
    history = RUNS.screen_widths(80)
    assert {"status", "delivered", "rejected"} <= set(history)
    assert sum(w + 2 for w in history.values()) + 4 <= 80
    assert list(RUNS.screen_widths(160)) == list(RUNS.screen)


def test_screen_widths_from_terminal_and_data() -> None:
    narrow = FAILURES.screen_widths(80)
    wide = FAILURES.screen_widths(160)
    assert narrow["email"] == 22 and wide["email"] == 28
    assert wide["feedback"] > narrow["feedback"] >= 24
    # A number never cut: its column widens to the longest value on the page.
    assert FAILURES.screen_widths(80, [failure(attempts=123456)])["attempts"] == 6
    column = FAILURES.column("feedback")
    shown = column.fit(column.screen_text(failure()), 30)
    assert len(shown) == 30 and shown.endswith("…") and shown.startswith("[@click=app.quit]")


def test_exports_hold_the_raw_values_in_the_documented_order() -> None:
    row = failure()
    out = io.StringIO()
    assert FAILURES.write_csv([row], out) == 1
    header, values = csv.reader(io.StringIO(out.getvalue()))
    assert header == ["email", "destination", "kind", "feedback", "http_status", "attempts", "at"]
    assert values[3] == FEEDBACK
    out = io.StringIO()
    FAILURES.write_json([row], out)
    (item,) = orjson.loads(out.getvalue())
    assert item == row.as_json()


def test_history_and_summary_reports() -> None:
    run = RunRow(1, "[/x]\x1b[2J", "manual", "ok", "2026-11-20T09:00:00.000Z",
                 "2026-11-20T09:00:02.500Z", 1, 0, 0, 1, 0, 0, 0, 0, 1, None)  # fmt: skip
    header, line = RUNS.report_lines([run])
    assert header.split()[:6] == ["run", "started", "destination", "trigger", "status", "secs"]
    assert "[/x]\\x1b[2J" in line and "2.5" in line and "\x1b" not in line
    assert list(RUNS.export_item(run)) == list(run.__dict__)
    day = SummaryRow("2026-11-20", "seg", 1234567, 1, 0, 2)
    header, line = SUMMARY.report_lines([day])
    assert header.split() == list(day.as_json()) and "1234567" in line
    assert SUMMARY.export_item(day) == day.as_json()
