"""`?`: every key that works on the screen below, and the ones that work everywhere."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from console.core.text import printable
from console.ui.screens.base import ConsoleModal
from console.ui.widgets.nav_bar import NAV_ITEMS

KEYS_MAX_ROWS = 30  # the list's height on a tall terminal
SKIPPED_KEYS = {"tab", "shift+tab", "ctrl+c", "super+c"}
NAV_NOTES = {"?": "Keys", ":": "Jump", "q": "Quit (asks first while a run is in flight)"}
EVERYWHERE_NOTES = (
    ("ctrl+p", "Command palette (same as :)"),
    ("tab / shift+tab", "Move between tables and fields"),
    ("↑ ↓ j k", "Move in a table"),
    ("home g / end G", "First / last row of the whole table, through its pages"),
    ("[ ] pgup pgdn", "Previous / next page (pgdn on the last row, pgup on the first)"),
    ("← →", "Scroll a wide table sideways (the panel below shows the whole row)"),
    (
        "esc",
        "Close what is open (a dialog, a filter, a detail, a drill-down), then the "
        "previous screen, never past Destinations",
    ),
)


class KeysScreen(ConsoleModal[None]):
    """Lists the bindings of `screen` (with their descriptions) and the global keys."""

    BINDINGS = [
        Binding("escape", "cancel", "Close", id="cancel"),
        Binding("question_mark", "cancel", "Close", key_display="?", id="keys-close"),
    ]

    def __init__(
        self, screen: Screen[object], store_label: str, log_file: Path | None = None
    ) -> None:
        super().__init__()
        self.target = screen
        self.store_label = store_label
        self.log_file = log_file

    def _screen_rows(self) -> list[tuple[str, str]]:
        rows: list[tuple[str, str]] = []
        seen: set[str] = set()
        # Focus moves and copy are Textual's own, listed once under "Everywhere".
        nav_keys = {key for key, *_ in NAV_ITEMS} | {"question_mark", "colon"} | SKIPPED_KEYS
        for key, active in self.target.active_bindings.items():
            binding = active.binding
            if active.node is not self.target or not binding.description:
                continue
            if key in seen or key in nav_keys:
                continue
            seen.add(key)
            display = binding.key_display or self.app.get_key_display(binding)
            rows.append((display, binding.tooltip or binding.description))
        return rows

    def compose(self) -> ComposeResult:
        screen_name = getattr(self.target, "HELP_NAME", type(self.target).__name__)
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        table.add_row(Text("This screen", style="bold underline"), screen_name)
        for key, description in self._screen_rows():
            table.add_row(key, description)
        for word, meaning in getattr(self.target, "HELP_NOTES", ()):
            table.add_row(Text(word, style="bold"), meaning)
        table.add_row("", "")
        table.add_row(Text("Everywhere", style="bold underline"), "")
        for key, long, _short, _action in NAV_ITEMS:
            table.add_row(key, NAV_NOTES.get(key, f"Go to {long}"))
        for key, description in EVERYWHERE_NOTES:
            table.add_row(key, description)
        # Where the console reads and logs: under the list, always in view (not scrolled).
        where = Table.grid(padding=(0, 2))
        where.add_column(style="bold underline", no_wrap=True)
        where.add_column()
        where.add_row("Store", Text(printable(self.store_label)))
        if self.log_file is not None:
            where.add_row("Log file", Text(printable(str(self.log_file))))
        with Vertical(classes="dialog wide-dialog"):
            yield Static("Keys", classes="dialog-title")
            with VerticalScroll(id="keys-scroll"):
                yield Static(table)
            yield Static(where, id="keys-where")
            yield Static("esc or ? close · ↑↓ scroll", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#keys-scroll").focus()

    def on_resize(self, event: events.Resize) -> None:
        # An auto-height scroll inside an auto-height dialog grows to its content and the
        # dialog's max-height then cuts it, so on a short terminal the end of the list (and
        # the hint) could not be scrolled to. TCSS has no `min(30, 100% - 5)`: set it here.
        # 5 rows: the dialog's two border lines, the title and its gap, and the hint; then the
        # store and log lines with the gap above them.
        fixed = 5 + 1 + (2 if self.log_file is not None else 1)
        scroll = self.query_one("#keys-scroll")
        scroll.styles.max_height = max(3, min(KEYS_MAX_ROWS, event.size.height - fixed))
