"""What every console screen shares: the header on top, the screen keys and the action keys
at the bottom, a title line, and Escape to go back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Static

from console.core.text import printable
from console.ui.widgets.nav_bar import NavBar
from console.ui.widgets.paged_table import PagedTable
from console.ui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from console.ui.app import RetentionConsoleApp

ResultT = TypeVar("ResultT")


class BottomBar(Vertical):
    """Two lines: the screens (NavBar) and this screen's actions (Footer)."""

    DEFAULT_CSS = """
    BottomBar {
        dock: bottom;
        height: 2;
    }
    """


class ConsoleScreen(Screen[None]):
    """A full screen of the console. Subclasses yield their body from `compose_body`."""

    MODE: str | None = None
    """The top-level screen this one belongs to (highlighted in the key bar)."""
    HELP_NOTES: tuple[tuple[str, str], ...] = ()
    """What `?` explains under this screen's keys besides them (a word the screen shows)."""

    @property
    def console(self) -> RetentionConsoleApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield StatusBar()
        yield Static(id="title", classes="screen-title", markup=False)
        yield from self.compose_body()
        with BottomBar():
            yield NavBar(self.MODE)
            yield Footer(compact=True, show_command_palette=False)

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_screen_resume(self) -> None:
        self.jumped()

    def jumped(self) -> None:
        """The screen is shown again (or a palette jump targets it): refresh what it shows."""

    def set_title(self, text: str) -> None:
        # Titles name destinations and echo filters: shown literally (markup=False), escaped.
        self.query_one("#title", Static).update(printable(text))

    def action_back(self) -> None:
        self.console.go_back()


def page_bindings(screen: str) -> list[Binding]:
    """`]` and `[`: a paged screen's next and previous page (ids `<screen>-next` and
    `<screen>-previous`), listed where the screen puts them among its keys."""
    return [
        Binding(
            "right_square_bracket",
            "page(1)",
            "Next page",
            key_display="]",
            show=False,
            id=f"{screen}-next",
        ),
        Binding(
            "left_square_bracket",
            "page(-1)",
            "Previous page",
            key_display="[",
            show=False,
            id=f"{screen}-previous",
        ),
    ]


class PagedScreen(ConsoleScreen):
    """A screen over one `PagedTable` (its `table`): `]`/`[` (`page_bindings`) and the table's
    own keys past its first or last row turn the pages."""

    @property
    def table(self) -> PagedTable[Any]:
        raise NotImplementedError

    def action_page(self, delta: int) -> None:
        if not self.table.turn(delta):
            self.notify("No more pages that way.", timeout=2)
            return
        self.page_turned()

    def page_turned(self) -> None:
        """After the table turned a page (Failures forgets its marks)."""

    @on(PagedTable.PageRequested)
    def _page_requested(self, event: PagedTable.PageRequested) -> None:
        self.action_page(event.delta)


class ConsoleModal(ModalScreen[ResultT]):
    """A dialog over the current screen, dismissed with a `ResultT`; Escape closes it with
    `CANCELLED` (None unless a subclass says otherwise, as the yes/no confirmation does)."""

    CANCELLED: ResultT | None = None

    @property
    def console(self) -> RetentionConsoleApp:
        return self.app  # type: ignore[return-value]

    def action_cancel(self) -> None:
        self.dismiss(self.CANCELLED)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """A button runs the action its id names (`save` runs `action_save`, as its key does);
        a button naming no action (Close, Cancel) closes the dialog."""
        event.stop()
        action = getattr(self, f"action_{event.button.id}", None)
        (action if callable(action) else self.action_cancel)()
