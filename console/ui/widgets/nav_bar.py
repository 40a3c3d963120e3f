"""The footer's first line: the five screens and the keys that reach them from anywhere.

Each item is clickable too. The current screen is highlighted, so the bar doubles as tabs.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.widget import Widget

# (key shown, long label, short label, action run on the app)
NAV_ITEMS: tuple[tuple[str, str, str, str], ...] = (
    ("d", "Destinations", "Dest", "go('destinations')"),
    ("m", "Mapping", "Map", "go('mapping')"),
    ("s", "Summary", "Sum", "go('summary')"),
    ("f", "Failures", "Fail", "go('failures')"),
    ("h", "History", "Hist", "go('history')"),
    ("?", "Keys", "Keys", "help"),
    (":", "Jump", "Jump", "command_palette"),
    ("q", "Quit", "Quit", "quit"),
)
MODE_OF_ACTION = {action: action[4:-2] for _, _, _, action in NAV_ITEMS if action.startswith("go(")}


class NavBar(Widget):
    """Renders `d Destinations  m Mapping ...`; shortens labels when the terminal is narrow."""

    DEFAULT_CSS = """
    NavBar {
        height: 1;
        background: $footer-background;
        color: $footer-foreground;
    }
    """

    def __init__(self, current: str | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.current = current
        self._spans: list[tuple[int, int, str]] = []

    def _items(self, short: bool) -> list[tuple[str, str, str]]:
        return [(key, s if short else long, action) for key, long, s, action in NAV_ITEMS]

    def render(self) -> Text:
        width = self.size.width or 80
        items = self._items(short=False)
        # Each item is "k Label" and one space: 77 columns for the long labels.
        if sum(len(label) + 3 for _, label, _ in items) > width:
            items = self._items(short=True)
        text = Text(" ")
        self._spans = []
        for key, label, action in items:
            start = text.cell_len
            here = self.current is not None and MODE_OF_ACTION.get(action) == self.current
            text.append(key, style="bold reverse green" if here else "bold reverse")
            text.append(f" {label}", style="bold underline" if here else "")
            self._spans.append((start, text.cell_len, action))
            text.append(" ")
        text.truncate(width)
        return text

    async def on_click(self, event: events.Click) -> None:
        for start, end, action in self._spans:
            if start <= event.x < end:
                await self.app.run_action(action)
                return
