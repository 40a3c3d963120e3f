"""The Sync summary's chart: as wide as the terminal, with its scale (each line's peak and the
legend), and a big day that does not flatten the others (it is clipped and marked)."""

from __future__ import annotations

from console.ui.widgets.day_chart import BLOCKS, CLIPPED, DayChart, Series, levels, scale_top
from tests.ui.conftest import AppFactory
from tests.ui.pilot import painted, press, settle


def test_a_big_day_does_not_flatten_the_others() -> None:
    ordinary = [0, 3, 6, 12, 9, 12]
    values = [*ordinary, 40_000]
    top = scale_top(values)
    assert top == 12  # the busiest ordinary day tops the scale
    assert levels(values, top) == [0, 2, 4, 8, 6, 8, None]  # linear; the big day clipped
    # Without an outlier the peak is the top: nothing clipped.
    assert scale_top(ordinary) == 12 and None not in levels(ordinary, 12)
    # On a scale topped by the big day every ordinary day would be the lowest block.
    assert levels(ordinary, 40_000) == [0, 1, 1, 1, 1, 1]


async def test_a_clipped_day_is_marked_and_said(ui_app: AppFactory) -> None:
    app = ui_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        await press(pilot, "s")
        chart = app.screen.query_one(DayChart)
        days = chart.days
        big = [5] * 29 + [40_000]
        chart.show(
            days,
            [
                Series("Completions", big, "day-chart--good"),
                Series("Failures", [1] * 30, "day-chart--bad"),
            ],
        )
        await settle(pilot)
        completions, failures, axis = chart_lines(painted(app))
        assert CLIPPED in completions and "peak 40,000/day ↑, bars to 5" in completions
        assert CLIPPED not in failures and "█" in failures
        assert "↑ above the scale" in axis


def chart_lines(text: str) -> tuple[str, str, str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("Completions"))
    return lines[start], lines[start + 1], lines[start + 2]


def bar_span(line: str) -> int:
    """Columns from the first to the last block of a chart line."""
    where = [i for i, c in enumerate(line) if c in BLOCKS[1:]]
    return where[-1] - where[0] + 1


async def test_the_chart_follows_the_terminal_width(ui_app: AppFactory) -> None:
    spans = {}
    for size in ((80, 24), (160, 45)):
        app = ui_app()
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await press(pilot, "s")
            completions, failures, axis = chart_lines(painted(app))
        assert all(len(line.rstrip()) <= size[0] for line in (completions, failures, axis))
        assert "peak 22" in completions and "peak 6" in failures, size
        assert "11-20" in axis and "bars: linear, tallest = peak" in axis, size
        spans[size[0]] = bar_span(completions)
    # 14 days of data: one column a day at 80, wider bars at 160.
    assert spans[80] == 14
    assert spans[160] >= 2 * spans[80]
