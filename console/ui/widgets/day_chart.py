"""The Sync summary's chart: completions and failures, one bar a day, as wide as the terminal.

Bars are linear up to the top of the scale, which is the peak unless the peak is an outlier:
a day above four times the ordinary busy day (the upper quartile of the days with anything) is
drawn as `↑` (clipped), and the scale tops at the busiest of the other days, so one big day
(a backfill of 40,000) does not flatten the ordinary days to the lowest block. Each line names
its peak and, when it clipped, the top of its scale; the legend says what `↑` is. A day with
nothing is blank, a day with anything has at least the lowest block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from console.reports.formatting import count

BLOCKS = " ▁▂▃▄▅▆▇█"
LABEL_WIDTH = 13
MIN_DAYS = 7
"""The fewest days drawn when the terminal is too narrow for all of them."""
CLIPPED = "↑"
OUTLIER = 4
"""A day above this many times the upper quartile of the busy days is off the scale."""


def scale_top(values: Sequence[int]) -> int:
    """The count a full bar stands for: the peak, or the busiest day that is no outlier."""
    busy = sorted(v for v in values if v > 0)
    if not busy:
        return 0
    quartile = busy[(len(busy) - 1) * 3 // 4]
    return max(v for v in busy if v <= OUTLIER * quartile)


def levels(values: Sequence[int], top: int, height: int = len(BLOCKS) - 1) -> list[int | None]:
    """Each value's bar height in 0..height against `top` (linear): 0 only for 0, at least 1
    for anything, None for a value above `top` (drawn clipped)."""
    return [
        0
        if value <= 0
        else None
        if value > top
        else max(1, min(height, round(value / top * height)))
        for value in values
    ]


@dataclass(frozen=True)
class Series:
    label: str
    values: list[int]
    """One a day, oldest first; the last is today."""
    component: str
    """The chart's component class that colours its bars (`day-chart--good` or `--bad`)."""


class DayChart(Widget):
    """Three lines: the two series and the date axis with the legend. `show(days, series)`
    sets what it draws; the geometry follows the widget's width at every render."""

    COMPONENT_CLASSES = {"day-chart--good", "day-chart--bad"}
    DEFAULT_CSS = """
    DayChart {
        height: 3;
        & > .day-chart--good { color: $success; }
        & > .day-chart--bad { color: $error; }
    }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.days: list[str] = []
        self.series: list[Series] = []

    def show(self, days: list[str], series: list[Series]) -> None:
        self.days, self.series = days, series
        self.refresh()

    def _totals(self, series: Series, short: bool) -> str:
        values = series.values
        total, today, peak = count(sum(values)), count(values[-1]), count(max(values))
        top = scale_top(values)
        clipped = f" {CLIPPED}, bars to {count(top)}" if top < max(values) else ""
        if short:
            return f"{total} · today {today} · peak {peak}{clipped}"
        return f"{total} in {len(values)} days · today {today} · peak {peak}/day{clipped}"

    def render(self) -> Text:
        if not self.days or not self.series:
            return Text("")
        width = max(self.size.width, 40)
        days = len(self.days)
        short = False
        totals = [self._totals(s, short) for s in self.series]
        room = width - LABEL_WIDTH - max(len(t) for t in totals) - 2
        if room < days:
            short = True
            totals = [self._totals(s, short) for s in self.series]
            room = width - LABEL_WIDTH - max(len(t) for t in totals) - 2
        shown = max(MIN_DAYS, min(days, room))
        per_day = max(1, room // shown)
        bar = per_day - 1 if per_day >= 3 else per_day  # wide bars keep a gap between days
        chart_width = shown * per_day
        lines = []
        for series, total in zip(self.series, totals, strict=True):
            line = Text(series.label.ljust(LABEL_WIDTH), style="dim", no_wrap=True, end="")
            # The colour only: the component's background would paint the blank above a bar.
            style = Style(color=self.get_component_rich_style(series.component).color)
            values = series.values[-shown:]
            for level in levels(values, scale_top(series.values)):
                if level is None:
                    line.append(CLIPPED * bar, style=style + Style(bold=True))
                else:
                    line.append(BLOCKS[level] * bar, style=style)
                line.append(" " * (per_day - bar))
            line.append("  " + total)
            lines.append(line)
        clipped = any(scale_top(s.values) < max(s.values) for s in self.series)
        lines.append(self._axis(self.days[-shown:], per_day, chart_width, clipped))
        return Text("\n", no_wrap=True).join(lines)

    def _axis(self, days: list[str], per_day: int, chart_width: int, clipped: bool) -> Text:
        """`11-07 … 11-14 … 11-20` under the bars (first, middle and last day), then the
        legend."""
        axis = [" "] * chart_width
        marks = [(0, days[0][5:]), (len(days) - 1, days[-1][5:])]
        if chart_width >= 24:
            marks.insert(1, (len(days) // 2, days[len(days) // 2][5:]))
        for index, label in marks:
            start = min(max(index * per_day, 0), chart_width - len(label))
            if all(c == " " for c in axis[max(start - 1, 0) : start + len(label) + 1]):
                axis[start : start + len(label)] = label
        legend = f"linear; {CLIPPED} above the scale" if clipped else "linear, tallest = peak"
        return Text.assemble(
            " " * LABEL_WIDTH, ("".join(axis), "dim"), ("  bars: " + legend, "dim italic")
        )
