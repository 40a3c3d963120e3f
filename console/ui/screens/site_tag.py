"""The snippet a destination's website pastes in (ReSci's on-site tag), shown whole as text
and copied to the clipboard with `c` (Textual's OSC 52 request: the terminal, or tmux with
`set-clipboard on`, has to allow it; the text stays on screen to select by hand otherwise).
The same text as `retention-console resci tag DESTINATION`."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, ScrollableContainer, Vertical
from textual.widgets import Button, Static

from console.core.text import printable
from console.ui.screens.base import ConsoleModal


class SiteTagScreen(ConsoleModal[None]):
    DEFAULT_CSS = """
    SiteTagScreen #site-tag-scroll { height: auto; max-height: 70vh; border: round $panel; }
    SiteTagScreen #site-tag { width: auto; }
    """
    BINDINGS = [
        Binding("c", "copy", "Copy", id="site-tag-copy"),
        Binding("escape", "cancel", "Close", id="cancel"),
    ]

    def __init__(self, destination: str, tag: str) -> None:
        super().__init__()
        self.destination = destination
        self.tag = tag

    def compose(self) -> ComposeResult:
        lines = self.tag.count("\n")
        with Vertical(classes="dialog wide-dialog"):
            yield Static(
                printable(f"On-site tag · {self.destination}"),
                classes="dialog-title",
                markup=False,
            )
            yield Static(
                f"{lines} lines to paste before </head> on every page of the site; un-comment "
                "an event's lines on the page where it happens.",
                classes="dialog-hint",
                markup=False,
            )
            with ScrollableContainer(id="site-tag-scroll"):
                # Text, never markup: the tag holds `[` and the names of events and sites.
                yield Static(Text(printable(self.tag, keep="\n")), id="site-tag")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Copy (c)", id="copy", variant="primary", compact=True)
                yield Button("Close (esc)", id="close", compact=True)

    def on_mount(self) -> None:
        self.query_one("#copy", Button).focus()

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.tag)
        self.notify(
            f"On-site tag copied to the clipboard ({self.tag.count(chr(10))} lines). If the "
            "terminal refuses clipboard requests, select the text shown instead.",
            timeout=6,
            markup=False,
        )
