"""The `/` filter line of a table (k9s style): what is typed applies after a pause in typing,
one query per pause rather than per keystroke; Enter or Escape goes back to the table and
keeps the filter, which the bar shows for as long as it is set."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input, Label

from console.ui.widgets.form_fields import FormInput

PAUSE_SECONDS = 0.25


class FilterBar(Horizontal):
    """Posts `Applied` with the filter text (None for no filter) after each pause in typing
    and when the operator leaves the field."""

    @dataclass
    class Applied(Message):
        bar: FilterBar
        text: str | None

        @property
        def control(self) -> FilterBar:
            return self.bar

    def __init__(self, placeholder: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.placeholder = placeholder
        self._debounce: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Label("/", id="filter-label")
        yield FormInput(placeholder=self.placeholder, id="filter-input")

    def on_mount(self) -> None:
        self.display = False

    @property
    def field(self) -> Input:
        return self.query_one("#filter-input", Input)

    @property
    def typing(self) -> bool:
        return self.field.has_focus

    def open(self) -> None:
        self.display = True
        self.field.focus()

    def finish(self) -> None:
        """Apply what is typed now; the bar stays shown while a filter is set. The caller
        moves the focus back to its table."""
        if self._debounce is not None:
            self._debounce.stop()
        text = self.field.value.strip()
        self.display = bool(text)
        self.post_message(self.Applied(self, text or None))

    def clear(self) -> None:
        self.field.value = ""
        self.display = False

    @on(Input.Changed, "#filter-input")
    def _typed(self, event: Input.Changed) -> None:
        event.stop()
        if self._debounce is not None:
            self._debounce.stop()
        value = event.value.strip()
        self._debounce = self.set_timer(
            PAUSE_SECONDS, lambda: self.post_message(self.Applied(self, value or None))
        )

    @on(Input.Submitted, "#filter-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.finish()
        self.screen.focus_next()
