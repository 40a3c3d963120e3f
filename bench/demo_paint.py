"""`python -m bench.demo_paint`: how soon `retention-console demo` shows its first screen.

Does what the `demo` command does, in this fresh process, headless at 80x24: creates the demo
store and sandboxes (`create_demo`), opens the console with the data build as its startup job
(`fill_demo`, 14 days of history as the command's default), and reports:

* launch to first paint: from the process start (before anything heavy is imported) to the
  Destinations table painted with its rows and the header saying `building demo data…`;
* launch to data landed: until the build ended and the engine started.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()  # before anything heavy is imported: "launch" starts here

import argparse  # noqa: E402
import asyncio  # noqa: E402
import tempfile  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402


async def probe(history_days: int) -> None:
    from textual.widgets import DataTable

    from console.demo import DemoOptions, create_demo, fill_demo
    from console.reports.formatting import counted
    from console.ui.app import make_app

    path = Path(tempfile.mkdtemp(prefix="retention-demo-bench-")) / "demo.db"
    env = create_demo(path, DemoOptions(history_days=history_days))
    app = make_app(
        env.store, cursor_blink=False, startup=("building demo data…", partial(fill_demo, env))
    )

    async def until(check, limit: float = 300.0) -> float:  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        while not check():
            await asyncio.sleep(0.002)
            if time.perf_counter() - start > limit:
                raise TimeoutError("the console did not get there in time")
        return time.perf_counter()

    try:
        async with app.run_test(size=(80, 24)):

            def first_screen() -> bool:
                tables = app.screen.query("#destinations")
                return (
                    bool(tables)
                    and tables.first(DataTable).row_count > 0
                    and app.preparing is not None
                )

            painted = await until(first_screen)
            print(
                f"launch to first paint (destinations, building demo data…): {painted - T0:.2f} s"
            )
            landed = await until(lambda: app.preparing is None)
            days = counted(history_days, "day")
            print(f"launch to demo data landed ({days}, engine started): {landed - T0:.2f} s")
    finally:
        env.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--history-days", type=int, default=14)
    args = parser.parse_args()
    asyncio.run(probe(args.history_days))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
