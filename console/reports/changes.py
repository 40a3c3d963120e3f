"""How a change-log entry reads, on the destination's panel and in `retention-console changes`
(its diff is already masked when recorded)."""

from __future__ import annotations

from collections.abc import Mapping


def diff_text(diff: Mapping[str, object]) -> str:
    """`field: before → after; ...` (a value that was or became absent shows as `-`)."""

    def shown(value: object) -> str:
        return "-" if value is None else str(value)

    parts = []
    for field, change in diff.items():
        before, after = change if isinstance(change, list) and len(change) == 2 else (None, change)
        parts.append(f"{field}: {shown(before)} → {shown(after)}")
    return "; ".join(parts)
