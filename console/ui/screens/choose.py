"""Pick one of a few things (a destination, a kind, an audience) from a list."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from console.core.text import printable
from console.engine.destinations import list_destinations
from console.ui.screens.base import ConsoleModal, ConsoleScreen

ALL_DESTINATIONS = "__all__"


class ChooseScreen(ConsoleModal[str]):
    """Dismisses with the chosen option's id, or None on Escape."""

    BINDINGS = [
        Binding("enter", "choose", "Choose", id="choose", show=True),
        Binding("escape", "cancel", "Cancel", id="cancel"),
    ]

    def __init__(
        self, title: str, options: list[tuple[str, str]], selected: str | None = None
    ) -> None:
        super().__init__()
        self.title_text = printable(title)
        self.options = options
        self.selected = selected

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, classes="dialog-title", markup=False)
            yield OptionList(
                # Labels are destination names: a `Text` prompt is never parsed as markup.
                *(
                    Option(Text(printable(label)), id=option_id)
                    for option_id, label in self.options
                ),
                id="choices",
            )
            yield Static("↑↓ move · enter choose · esc cancel", classes="dialog-hint")

    def on_mount(self) -> None:
        choices = self.query_one(OptionList)
        ids = [option_id for option_id, _ in self.options]
        if self.selected in ids:
            choices.highlighted = ids.index(self.selected)
        elif ids:
            choices.highlighted = 0
        choices.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_choose(self) -> None:
        choices = self.query_one(OptionList)
        if choices.highlighted is not None:
            self.dismiss(choices.get_option_at_index(choices.highlighted).id)


def choose_destination(
    screen: ConsoleScreen,
    question: str,
    current: str | None,
    chosen: Callable[[str | None], None],
) -> None:
    """Ask which destination a screen shows, "All destinations" first; `chosen` gets the name,
    or None for all. Escape leaves the screen as it was. The names are read off the event loop."""

    def answered(choice: object) -> None:
        if isinstance(choice, str):
            chosen(None if choice == ALL_DESTINATIONS else choice)

    def ask() -> None:
        with screen.console.store.read() as conn:
            names = [(d.name, d.name) for d in list_destinations(conn)]
        options = [(ALL_DESTINATIONS, "All destinations"), *names]
        screen.app.call_from_thread(
            screen.app.push_screen,
            ChooseScreen(question, options, current or ALL_DESTINATIONS),
            answered,
        )

    screen.run_worker(ask, thread=True, group="choose-destination")
