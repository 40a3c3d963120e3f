"""Removing a destination: asked once, and when it has failures, offered to export them first
(its failures are deleted with it). `e` exports them as CSV into the export directory, then
removes; `y` removes; `n` or Escape keeps it.

The modal only asks; `export_failures` writes the file (off the UI thread, from the caller's
worker) and the Destinations screen removes through the engine.
"""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from console.core.text import printable
from console.reports.export_files import open_export
from console.reports.views import FAILURES
from console.ui.formatting import count
from console.ui.screens.base import ConsoleModal
from state.db import Store
from state.failures import FailureFilter, failure_count, iter_failures

REMOVE, EXPORT_THEN_REMOVE = "remove", "export"


class RemoveDestinationScreen(ConsoleModal[str | None]):
    """Dismisses with REMOVE, EXPORT_THEN_REMOVE, or None (No, Escape)."""

    BINDINGS = [
        Binding("e", "export", "Export, then remove", id="remove-export"),
        Binding("y", "remove", "Remove", id="remove-yes"),
        Binding("n", "cancel", "No", id="remove-no"),
        Binding("escape", "cancel", "Cancel", id="cancel"),
    ]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.destination = name
        self.failures: int | None = None  # counted once the dialog is up

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(
                printable(f"Remove {self.destination}?"), classes="dialog-title", markup=False
            )
            yield Static(self._detail(), id="remove-detail", classes="dialog-detail", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Export, then remove (e)", id="export", compact=True)
                yield Button("Remove (y)", id="yes", variant="error", compact=True)
                yield Button("No (n)", id="no", compact=True)

    def _detail(self) -> str:
        detail = (
            "Its queue, failures, history and cursors are deleted too. Contacts, events and "
            "audiences stay."
        )
        if self.failures is None:
            return detail + "\nCounting its failures…"
        if not self.failures:
            return detail + "\nIt has no failures."
        return detail + (
            f"\nIt has {count(self.failures)} failures: e exports them (CSV, into the export "
            "directory) before they go."
        )

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()
        self._count()

    @work(thread=True, group="remove-count")
    def _count(self) -> None:
        # Counted off the UI thread (a destination may have millions); y and n work meanwhile.
        with self.console.store.read() as conn:
            failures = failure_count(conn, FailureFilter(destination=self.destination))
        self.app.call_from_thread(self._counted, failures)

    def _counted(self, failures: int) -> None:
        self.failures = failures
        self.query_one("#remove-detail", Static).update(self._detail())
        self.query_one("#export", Button).display = failures > 0

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        {"export": self.action_export, "yes": self.action_remove}.get(
            str(event.button.id), self.action_cancel
        )()

    def action_export(self) -> None:
        if self.failures != 0:  # unknown yet: the export says how many it wrote
            self.dismiss(EXPORT_THEN_REMOVE)

    def action_remove(self) -> None:
        self.dismiss(REMOVE)


def export_failures(store: Store, name: str, directory: Path, file_name: str) -> int:
    """Write the destination's failures as the Failures screen's CSV export; returns the
    rows written. Raises ExportRefused or OSError (nothing is removed then)."""
    with store.read() as conn, open_export(directory, file_name) as out:
        return FAILURES.write_csv(iter_failures(conn, FailureFilter(destination=name)), out)
