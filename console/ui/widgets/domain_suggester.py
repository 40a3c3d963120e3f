"""Domains offered as a comma-separated filter list is typed: the completion of the entry being
typed (the most frequent domain that starts with it), and a hint line naming the matching
domains with their counts, most frequent first."""

from __future__ import annotations

from textual.suggester import Suggester

from console.reports.formatting import count

SHOWN = 6


def typed_entry(value: str) -> tuple[str, set[str]]:
    """(the entry being typed, lower-cased; the entries listed before it)."""
    head, _, entry = value.rpartition(",")
    listed = {part.strip().lower() for part in head.split(",") if part.strip()}
    return entry.strip().lower(), listed


def matching(seen: list[tuple[str, int]], value: str) -> list[tuple[str, int]]:
    """The domains the entry being typed may become, most frequent first."""
    entry, listed = typed_entry(value)
    return [(d, n) for d, n in seen if d.startswith(entry) and d not in listed]


def hint_text(seen: list[tuple[str, int]], value: str) -> str:
    if not seen:
        return "no domains in the store yet"
    found = matching(seen, value)
    if not found:
        return "no domain seen in the store starts with that"
    shown = ", ".join(f"{d} ({count(n)})" for d, n in found[:SHOWN])
    more = len(found) - SHOWN
    return f"seen: {shown}" + (f" and {more} more" if more > 0 else "") + " · → accepts"


class DomainSuggester(Suggester):
    """Completes the entry being typed with the most frequent matching domain."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.seen: list[tuple[str, int]] = []

    async def get_suggestion(self, value: str) -> str | None:
        typed = value.rpartition(",")[2].lstrip()
        if not typed or typed != typed.rstrip():
            return None
        found = matching(self.seen, value)
        return value + found[0][0][len(typed) :] if found else None
