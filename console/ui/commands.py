"""The command palette (`:` or ctrl+p): jump to any screen, or to any destination on any
screen, run a destination now, pause or resume the engine."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.markup import escape

from console.core.text import printable
from console.engine.destinations import load_destinations

if TYPE_CHECKING:
    from console.ui.app import RetentionConsoleApp

SCREEN_TITLES = {
    "destinations": "Destinations",
    "mapping": "Mapping",
    "summary": "Sync summary",
    "failures": "Failures",
    "history": "History",
    "suppressions": "Suppressions",
    "audiences": "Audiences",
}


class JumpProvider(Provider):
    """Commands are built once per palette opening; destination names are read in a thread."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._commands: list[tuple[str, str, object]] = []

    @property
    def console(self) -> RetentionConsoleApp:
        return self.app  # type: ignore[return-value]

    async def startup(self) -> None:
        app = self.console
        destinations = await asyncio.to_thread(load_destinations, app.store)
        commands: list[tuple[str, str, object]] = []
        for mode, title in SCREEN_TITLES.items():
            commands.append(
                (f"Go to {title}", f"Show the {title} screen", partial(app.go_to, mode))
            )
        for destination in destinations:
            name = destination.name
            # The palette parses prompts and help as markup: a name is escaped to show as typed.
            shown = escape(printable(name))
            commands.append(
                (
                    f"Destination {shown}",
                    f"{destination.kind}: select it on Destinations",
                    partial(app.go_to, "destinations", name),
                )
            )
            for mode in ("mapping", "summary", "failures", "history"):
                commands.append(
                    (
                        f"{SCREEN_TITLES[mode]}: {shown}",
                        f"Show {SCREEN_TITLES[mode].lower()} for {shown}",
                        partial(app.go_to, mode, name),
                    )
                )
            commands.append(
                (f"Run now: {shown}", "Deliver this destination now", partial(app.run_now, name))
            )
            if destination.declaration.poller is not None:
                # A kind with work that spans runs (a ReSci backfill) has import jobs.
                commands.append(
                    (
                        f"Import jobs: {shown}",
                        f"State, rows and age of {shown}'s import jobs",
                        partial(app.show_import_jobs, name),
                    )
                )
        commands.append(
            ("Alerts", "Alert channels and each destination's alert state", app.show_alerts)
        )
        label = "Resume engine" if app.engine.paused else "Pause engine"
        commands.append((label, "Pause or resume every scheduled run", app.toggle_engine))
        self._commands = commands

    async def discover(self) -> Hits:
        for text, help_text, callback in self._commands:
            yield DiscoveryHit(text, callback, help=help_text)  # type: ignore[arg-type]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, help_text, callback in self._commands:
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, text=text, help=help_text)  # type: ignore[arg-type]
