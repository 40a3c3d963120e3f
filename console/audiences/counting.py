"""How many contacts of the store an audience rule matches now: one streamed scan of the
contacts (the columns the rules read), however many rules are counted, never holding more
than a chunk. Used by the Audiences screen (off its UI thread) and `audiences list|show`.

This is the rule's count over every contact; what a destination was last told (its
`audience_members` rows) may lag behind it until its next run."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from console.audiences.tree import Rule
from state.db import Connection
from state.sources import contact_partitions


class CountCancelled(Exception):
    """The caller stopped wanting the count (the rule was typed on)."""


def count_matching(
    conn: Connection,
    rules: Mapping[str, Rule],
    *,
    cancelled: Callable[[], bool] = lambda: False,
) -> dict[str, int]:
    """name -> how many contacts its rule matches, for every rule in `rules`, from one scan.
    `cancelled` is asked between chunks; when it says yes, raises CountCancelled."""
    counts = dict.fromkeys(rules, 0)
    if not rules:
        return counts
    columns = sorted(set().union(*(rule.fields for rule in rules.values()))) or ["id"]
    tests = [(name, rule.predicate(columns)) for name, rule in rules.items()]
    for partition in contact_partitions(conn, columns):
        if cancelled():
            raise CountCancelled
        for name, matches in tests:
            counts[name] += sum(1 for row in partition if matches(row))
    return counts
