"""`python -m bench.screenshots [DIR]`: one SVG per screen, taken from the demo.

Builds the demo in a temporary directory with the clock frozen (so dates and times are the
same at every run), delivers both destinations through the engine, then opens the console
headless at 100x32 and saves each screen with `App.save_screenshot` (default: ./screenshots).
Secrets appear masked, as on a real terminal.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import DataTable

from console.core import clock
from console.core.vocab import Trigger
from console.demo import RESCI_NAME, SEGMENT_NAME, DemoOptions, build_demo
from console.engine.options import EngineOptions
from console.engine.runner import run_all
from console.ui.app import RetentionConsoleApp, make_app

MOMENT = datetime(2026, 11, 20, 9, 0, 0, tzinfo=UTC)
SIZE = (100, 32)
PORTS = (48765, 48766)

Steps = Callable[[Pilot[None]], Awaitable[None]]


def _free(port: int) -> int:
    """The port if it can be bound on 127.0.0.1 (stable URLs in the pictures), else 0."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return 0
    return port


async def _settle(pilot: Pilot[None]) -> None:
    for _ in range(2):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def _keys(*keys: str) -> Steps:
    async def steps(pilot: Pilot[None]) -> None:
        for key in keys:
            await pilot.press(key)
            await _settle(pilot)

    return steps


def _on(name: str, *keys: str) -> Steps:
    async def steps(pilot: Pilot[None]) -> None:
        await _settle(pilot)
        table = pilot.app.screen.query_one("#destinations", DataTable)
        table.move_cursor(row=table.get_row_index(name))
        await _settle(pilot)
        await _keys(*keys)(pilot)

    return steps


SHOTS: dict[str, Steps] = {
    "destinations": _on(SEGMENT_NAME),
    "destination-form": _on(SEGMENT_NAME, "e"),
    "mapping": _on(RESCI_NAME, "m"),
    "summary": _keys("s"),
    "failures": _keys("f", "enter"),
    "history": _keys("h"),
    "run-rows": _keys("h", "down", "enter"),
    "keys": _keys("f", "question_mark"),
    "audiences": _keys("A"),
    "suppressions": _keys("S"),
}


async def _shoot(app: RetentionConsoleApp, name: str, steps: Steps, out: Path) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        await steps(pilot)
        await pilot.pause(0.3)
        app.save_screenshot(f"{name}.svg", str(out))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    clock.set_clock(lambda: MOMENT)
    try:
        with tempfile.TemporaryDirectory(prefix="retention-shots-") as tmp:
            env = build_demo(
                Path(tmp) / "demo.db",
                DemoOptions(
                    history_days=14,
                    segment_port=_free(PORTS[0]),
                    resci_port=_free(PORTS[1]),
                    job_delay_seconds=0.0,
                    frozen_at=MOMENT,
                ),
            )
            try:
                options = EngineOptions(max_wait_seconds=0.0)
                # Twice: ReSci's first run uploads the audience, the second sees the job done.
                for _ in range(2):
                    asyncio.run(run_all(env.store, Trigger.MANUAL, options))
                for name, steps in SHOTS.items():
                    app = make_app(
                        env.store,
                        start_engine=False,
                        clock=lambda: MOMENT,
                        store_label="~/.local/share/retention-console/demo.db",
                        cursor_blink=False,
                    )
                    asyncio.run(_shoot(app, name, steps, out))
                    print(out / f"{name}.svg")
            finally:
                env.close()
    finally:
        clock.set_clock(None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
