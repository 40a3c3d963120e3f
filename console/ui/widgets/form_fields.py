"""Form building blocks: a labelled row with an error line under it, inputs whose cursor
blink follows the app (off for snapshots), and a checkbox that says on or off."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Static


class FormInput(Input):
    """A compact Input; the caret blinks unless the app was built with `cursor_blink=False`."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("compact", True)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def on_mount(self) -> None:
        self.cursor_blink = bool(getattr(self.app, "cursor_blink", True))

    async def _on_key(self, event: events.Key) -> None:
        # Textual inserts a printable key here, in the Input's own queue, but applies the
        # Input's bindings (backspace, delete, arrows, home/end) only once the key has bubbled
        # back up to the app. When the terminal delivers a burst in one read (fast typing over
        # SSH, key repeat, tmux), the app has already forwarded the letters typed after a
        # Backspace before that Backspace comes back: it then deletes them, and `segment-new`
        # typed after ten Backspaces ends as `segment-n` or less. Running the Input's own
        # bindings here keeps every key in the order it arrived. (Input's `_on_key` still runs
        # after this one for printable keys; prevent_default stops it for the handled ones.)
        for binding in self._bindings.key_to_bindings.get(event.key, ()):
            if not binding.priority:
                event.stop()
                event.prevent_default()
                await self.run_action(binding.action)
                return


class FormCheckbox(Checkbox):
    """A compact Checkbox whose box reads `✔ on` or `✘ off`: Textual's own draws the same `X`
    on and off, told apart only by a shade that many terminals and themes flatten."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("compact", True)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    @property
    def _button(self) -> Content:
        style = self.get_visual_style("toggle--button")
        return Content.assemble(("✔ on " if self.value else "✘ off", style))


class FieldRow(Vertical):
    """`Label  [widget]` on one line, and the field's error (if any) on the next."""

    DEFAULT_CSS = """
    FieldRow {
        height: auto;
        & > Horizontal { height: auto; }
        & .field-label { width: 22; color: $text-muted; padding-right: 1; }
        & .field-error { color: $error; padding-left: 22; display: none; height: auto; }
        & .field-error.-shown { display: block; }
        & .field-hint { color: $text-muted; padding-left: 22; height: auto; }
    }
    """

    def __init__(self, label: str, widget: Widget, field: str, hint: str = "") -> None:
        super().__init__(id=f"row-{field}")
        self.label = label
        self.widget = widget
        self.field = field
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label(self.label, classes="field-label", markup=False)
            yield self.widget
        if self.hint:
            yield Static(self.hint, classes="field-hint", markup=False)
        yield Static("", id=f"error-{self.field}", classes="field-error", markup=False)

    def show_error(self, message: str | None) -> None:
        error = self.query_one(f"#error-{self.field}", Static)
        error.update(message or "")
        error.set_class(bool(message), "-shown")
        self.set_class(bool(message), "-invalid")


class SectionTitle(Static):
    """A bold line that groups the fields below it."""

    DEFAULT_CSS = """
    SectionTitle { text-style: bold; color: $accent; margin-top: 1; }
    """
