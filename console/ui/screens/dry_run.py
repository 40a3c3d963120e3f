"""`P` on Destinations: the dry run of the highlighted destination, planned off the UI thread
(`console.engine.dry_run`), nothing sent or written. The lines are the CLI's
(`console.reports.dry_run`); names, emails and payloads are data, shown as `Text`."""

from __future__ import annotations

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from console.core.text import printable
from console.destinations.preview import DryRunPlan
from console.engine.destinations import DestinationRecord
from console.engine.dry_run import dry_run
from console.reports.dry_run import detail_lines, headline, sample_lines
from console.ui.screens.base import ConsoleModal

SAMPLES = 3
DIALOG_CHROME = 6  # border lines, title and its gap, the hint


def plan_text(plan: DryRunPlan) -> Text:
    """The plan as literal text: the headline bold, then details, then the samples."""
    text = Text()
    text.append(printable(headline(plan)), style="bold red" if plan.halted else "bold")
    for line in detail_lines(plan):
        text.append("\n" + printable(line))
    samples = sample_lines(plan)
    if samples:
        text.append("\n")
    for number, line in enumerate(samples):
        style = "bold" if number % 2 == 0 else "dim"
        text.append("\n" + printable(line), style=style)
    return text


class DryRunScreen(ConsoleModal[None]):
    """What the next run of one destination would do; Escape closes."""

    HELP_NAME = "Dry run"
    DEFAULT_CSS = """
    #dry-run-scroll {
        height: auto;
        max-height: 30;
    }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Close", id="cancel"),
        Binding("P", "cancel", "Close", key_display="P", id="dry-run-close"),
    ]

    def __init__(self, record: DestinationRecord) -> None:
        super().__init__()
        self.record = record

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide-dialog", id="dry-run"):
            yield Static(
                printable(f"Dry run of {self.record.name}: the next run, nothing sent"),
                classes="dialog-title",
                markup=False,
            )
            with VerticalScroll(id="dry-run-scroll"):
                yield Static("Planning…", id="dry-run-plan", markup=False)
            yield Static(
                "nothing was sent, queued or moved · esc close · ↑↓ scroll",
                classes="dialog-hint",
            )

    def on_mount(self) -> None:
        self.query_one("#dry-run-scroll").focus()
        self._plan()

    def on_resize(self, event: events.Resize) -> None:
        # As on the key map: the scroll may take what the terminal leaves around the dialog.
        scroll = self.query_one("#dry-run-scroll")
        scroll.styles.max_height = max(3, event.size.height - DIALOG_CHROME)

    @work(thread=True, exclusive=True, group="dry-run")
    def _plan(self) -> None:
        try:
            plan = dry_run(self.console.store, self.record, show=SAMPLES)
        except Exception as exc:  # a store error: said on screen, the console keeps going
            self.app.call_from_thread(self._show, Text(printable(f"Dry run failed: {exc}")))
            return
        self.app.call_from_thread(self._show, plan_text(plan))

    def _show(self, text: Text) -> None:
        self.query_one("#dry-run-plan", Static).update(text)
