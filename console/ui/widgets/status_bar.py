"""The header: which store, whether the engine runs, and when the next scheduled run is."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widget import Widget

from console.core.text import printable
from console.ui.formatting import clock_time, left_ellipsize, relative

if TYPE_CHECKING:
    from console.ui.app import RetentionConsoleApp

ENGINE_STYLES = {
    "running": "bold green",
    "paused": "bold yellow",
    "stopped": "bold red",
    "off here": "bold",
}


class StatusBar(Widget):
    """One line docked on top. It redraws when the app's `engine_tick` moves (an engine event)
    and every few seconds, so the "in 4m" of the next run counts down."""

    DEFAULT_CSS = """
    StatusBar {
        dock: top;
        height: 1;
        background: $panel;
        color: $foreground;
    }
    """

    def on_mount(self) -> None:
        self.watch(self.app, "engine_tick", self._on_engine_tick, init=False)
        self.set_interval(5, self.refresh)

    def _on_engine_tick(self, _tick: object) -> None:
        self.refresh()

    def render(self) -> Text:
        app: RetentionConsoleApp = self.app  # type: ignore[assignment]
        width = max(self.size.width, 20)
        state = app.engine_state
        next_run = app.engine.next_run_time()
        # Destination names and the store's path are shown with control characters escaped.
        running = sorted(printable(name) for name in app.engine.running)
        store_label = printable(app.store_label)
        title = Text(" Retention Console ", style="bold reverse")
        engine = Text.assemble(("engine ", "dim"), (state, ENGINE_STYLES.get(state, "bold")))
        if app.preparing is not None:
            # Said before anything else: the screens below are still filling.
            engine = Text("⧗ " + printable(app.preparing), style="bold yellow")
        # From the most to the least said; the first that leaves the store path room wins.
        running_texts = [", ".join(running), f"{len(running)} running"] if running else [""]
        if next_run is not None:
            next_texts = [
                f"next run {clock_time(next_run)} ({relative(next_run, app.now())})",
                f"next {clock_time(next_run)}",
                "",
            ]
        else:
            next_texts = ["no run scheduled", ""]
        store_room = min(len(store_label), 24)
        chosen = (running_texts[-1], next_texts[-1])
        for running_text in running_texts:
            for next_text in next_texts:
                used = title.cell_len + 8 + engine.cell_len + 2
                used += (len(running_text) + 4 if running_text else 0) + len(next_text) + 2
                if used + store_room <= width:
                    chosen = (running_text, next_text)
                    break
            else:
                continue
            break
        running_text, next_text = chosen
        line = Text.assemble(title, ("  store ", "dim"))
        tail = Text.assemble("  ", engine)
        if running_text:
            tail.append("  ⟳ " + running_text, style="bold cyan")
        if next_text:
            tail.append("  " + next_text, style="" if next_run else "dim")
        room = max(8, width - line.cell_len - tail.cell_len)
        line.append(left_ellipsize(store_label, room))
        line.append_text(tail)
        line.truncate(width, overflow="ellipsis")
        return line
