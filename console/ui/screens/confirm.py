"""Ask once before something destructive or large: `y` confirms, `n` or Escape does not.

A `ModalScreen[bool]`: it is dismissed with True or False, never None, so a caller reads
`if await self.app.push_screen_wait(ConfirmScreen(...))` in a worker, or takes the bool in a
`push_screen` callback."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from console.core.text import printable
from console.ui.screens.base import ConsoleModal


class ConfirmScreen(ConsoleModal[bool]):
    """Dismisses with True (confirmed) or False (No, Escape)."""

    CANCELLED = False  # what Escape and No give: a plain answer, not "no result"

    BINDINGS = [
        Binding("y", "confirm", "Yes", id="confirm-yes"),
        Binding("n", "cancel", "No", id="confirm-no"),
        Binding("escape", "cancel", "Cancel", id="cancel"),
    ]

    def __init__(self, question: str, detail: str = "", yes: str = "Yes") -> None:
        super().__init__()
        # Questions name destinations: shown literally (markup=False), control chars escaped.
        self.question = printable(question)
        self.detail = printable(detail, keep="\n")
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="dialog-title", markup=False)
            if self.detail:
                yield Static(self.detail, classes="dialog-detail", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="error", compact=True)
                yield Button("No (n)", id="no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "yes":
            self.action_confirm()
        else:
            self.action_cancel()

    def action_confirm(self) -> None:
        self.dismiss(True)
