"""How values read on screen and in the command line's reports: times, durations, counts,
schedules and shortened text.

Stored times are ISO-8601 UTC strings; the console shows them in UTC too, so an operator over
SSH and the store always agree on what "09:00" means.
"""

from __future__ import annotations

from datetime import datetime

from console.core import clock


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return clock.parse_iso(text)
    except ValueError:
        return None


def short_time(text: str | None) -> str:
    """`11-20 09:00` for table cells; an em dash when there is no time."""
    moment = _parse(text)
    return moment.strftime("%m-%d %H:%M") if moment else "—"


def full_time(text: str | None) -> str:
    """`2026-11-20 09:00:12 UTC` for detail panels."""
    moment = _parse(text)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "—"


def clock_time(moment: datetime | None) -> str:
    """`09:05:00 UTC` for the header's next run."""
    return moment.strftime("%H:%M:%S UTC") if moment else "—"


def relative(moment: datetime | None, now: datetime) -> str:
    """`in 4m`, `3h ago`, `now`: how far a moment is from now, in the largest whole unit."""
    if moment is None:
        return ""
    seconds = int((moment - now).total_seconds())
    future = seconds > 0
    seconds = abs(seconds)
    if seconds < 5:
        return "now"
    if seconds < 60:
        amount = f"{seconds}s"
    elif seconds < 3600:
        amount = f"{seconds // 60}m"
    elif seconds < 86400:
        amount = f"{seconds // 3600}h"
    else:
        amount = f"{seconds // 86400}d"
    return f"in {amount}" if future else f"{amount} ago"


def duration(seconds: float | None) -> str:
    """`0.4s`, `12s`, `3m 05s`; an ellipsis while still running."""
    if seconds is None:
        return "…"
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m {rest:02d}s"


def count(value: int) -> str:
    """Thousands separated, so 1000000 reads as 1,000,000."""
    return f"{value:,}"


def counted(value: int, word: str, words: str | None = None) -> str:
    """`1 request`, `2 requests`, `1,000 requests` (`words`: an irregular plural)."""
    return f"{count(value)} {word if value == 1 else (words or word + 's')}"


def schedule(minutes: int) -> str:
    """`every 15m`, `every 2h`, `every 1h 30m`."""
    if minutes < 60:
        return f"every {minutes}m"
    hours, rest = divmod(minutes, 60)
    return f"every {hours}h" + (f" {rest}m" if rest else "")


def ellipsize(text: str | None, width: int) -> str:
    """The first line of `text`, cut to `width` characters with an ellipsis."""
    if not text:
        return ""
    line = text.splitlines()[0] if text.strip() else ""
    if len(line) != len(text.rstrip()):
        line = line + " …" if len(line) + 2 <= width else line
    return line if len(line) <= width else line[: max(0, width - 1)] + "…"


def left_ellipsize(text: str, width: int) -> str:
    """Keep the end of a path, which is the part that tells stores apart: `…/data/console.db`."""
    return text if len(text) <= width else "…" + text[-(width - 1) :]
