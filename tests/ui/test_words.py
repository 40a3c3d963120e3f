"""What the console says: checkboxes that read on and off, a name placeholder of the form's
own kind, `off` and `paused` explained where they show, and counts with thousands separators
in the lines and notices."""

from __future__ import annotations

import pytest
from textual.widgets import Checkbox, Input, Static

from console.core.vocab import RunStatus
from console.destinations import registry
from console.engine.runner import RunResult
from console.engine.runs import RunCounts
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.destination_form import DestinationForm
from console.ui.screens.destinations import DestinationsScreen
from console.ui.screens.keys import KeysScreen
from tests.ui.conftest import SEGMENT, AppFactory
from tests.ui.pilot import SIZE, painted, press, select_row, settle


async def test_checkboxes_read_on_and_off(ui_app: AppFactory) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # An existing destination's form (a new one is a draft whose box is greyed out).
        await press(pilot, "e")
        form = app.screen
        assert isinstance(form, DestinationForm)
        enabled = form.query_one("#f-enabled", Checkbox)
        assert enabled.value and "✔ on  deliver on schedule" in painted(app)
        enabled.focus()
        await press(pilot, "space")
        assert not enabled.value and "✘ off deliver on schedule" in painted(app)


@pytest.mark.parametrize("position", range(len(registry.all_kinds())))
async def test_the_name_placeholder_follows_the_kind(ui_app: AppFactory, position: int) -> None:
    kind = registry.all_kinds()[position]
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "a", *["down"] * position, "enter")
        form = app.screen
        assert isinstance(form, DestinationForm) and form.kind == kind.name
        placeholder = form.query_one("#f-name", Input).placeholder
        assert placeholder == f"a unique name, e.g. {kind.name}-prod"
        others = [k.name for k in registry.all_kinds() if k.name != kind.name]
        assert not any(other in placeholder for other in others)


async def test_off_and_paused_are_explained_where_they_show(ui_app: AppFactory) -> None:
    app = ui_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select_row(pilot, "#destinations", SEGMENT)
        detail = app.screen.query_one("#detail-text", Static)
        assert "Off:" not in str(detail.render()) and "Paused:" not in str(detail.render())
        await press(pilot, "o")
        shown = str(detail.render())
        assert "Off: switched off by the operator" in shown and "run now is refused" in shown
        await press(pilot, "o")  # switching on asks once (issue 12)
        assert isinstance(app.screen, ConfirmScreen)
        await press(pilot, "y", "p")
        shown = str(detail.render())
        assert "Paused: switched on, but its schedule is suspended" in shown
        assert "run now still delivers" in shown
        await press(pilot, "question_mark")
        assert isinstance(app.screen, KeysScreen)
        text = painted(app)
        assert "state off" in text and "state paused" in text
        assert "run now still delivers" in text
        assert isinstance(app.screen.target, DestinationsScreen)


def test_a_run_line_separates_thousands() -> None:
    """The line `--run-once` prints, Destinations' last result and the run-now toast show."""
    counts = RunCounts(delivered=20043, rejected=1204, suppressed=1000, requests=1)
    line = RunResult("seg", RunStatus.FAILED, counts, queued=40224).line()
    assert line == (
        "seg: failed - 20,043 delivered, 1,204 rejected, 40,224 queued, 1,000 suppressed, "
        "0 filtered, 0 skipped, 1 request"
    )
