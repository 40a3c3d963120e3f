"""How values read on screen: the formatting the console shares with the command line's
reports lives in `console.reports.formatting` (no Textual there); screens import it from here
or from there alike."""

from console.reports.formatting import (
    clock_time,
    count,
    counted,
    duration,
    ellipsize,
    full_time,
    left_ellipsize,
    relative,
    schedule,
    short_time,
)

__all__ = [
    "clock_time",
    "count",
    "counted",
    "duration",
    "ellipsize",
    "full_time",
    "left_ellipsize",
    "relative",
    "schedule",
    "short_time",
]
