"""Audiences as the Audiences screen and `audiences list` show them: name, how many contacts
the rule matches now, the destinations whose export sends it, when it last changed and the
rule. One column spec for both, so they say the same thing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from console.audiences.counting import count_matching
from console.audiences.rules import parse_rule
from console.audiences.tree import Rule
from console.engine.destinations import audience_users
from console.reports.columns import Column, View
from console.reports.formatting import count, short_time
from state.audiences import list_audiences
from state.db import Connection

COUNTING = "…"
"""A member count not known yet (the screen counts off its UI thread)."""


@dataclass(frozen=True)
class AudienceRow:
    name: str
    rule: str
    updated_at: str
    used_by: tuple[str, ...]
    members: int | None
    """Contacts the rule matches now; None while not counted, or when the stored rule no
    longer parses (see `problem`)."""
    problem: str | None = None


def audience_rows(
    conn: Connection, *, counted: bool = True, cancelled: Callable[[], bool] = lambda: False
) -> list[AudienceRow]:
    """Every audience by name, with its users and (when `counted`) its member count, counted
    for every audience in one scan of the contacts."""
    audiences = list_audiences(conn)
    rules: dict[str, Rule] = {}
    problems: dict[str, str] = {}
    for audience in audiences:
        try:
            rules[audience.name] = parse_rule(audience.rule)
        except ValueError as exc:
            problems[audience.name] = str(exc)
    counts = count_matching(conn, rules, cancelled=cancelled) if counted else {}
    return [
        AudienceRow(
            a.name,
            a.rule,
            a.updated_at,
            tuple(audience_users(conn, a.name)),
            counts.get(a.name),
            problems.get(a.name),
        )
        for a in audiences
    ]


def _members(row: AudienceRow) -> str:
    if row.problem is not None:
        return "bad rule"
    return COUNTING if row.members is None else count(row.members)


AUDIENCES: View[AudienceRow] = View(
    (
        Column("name", "Audience", lambda r: r.name, width=18, wide=24),
        Column("members", "Members", lambda r: r.members, text=_members, number=True, width=7),
        Column(
            "used_by",
            "Exported by",
            lambda r: ", ".join(r.used_by),
            text=lambda r: ", ".join(r.used_by) or "—",
            width=16,
            wide=22,
        ),
        Column(
            "updated_at",
            "Changed (UTC)",
            lambda r: r.updated_at,
            text=lambda r: short_time(r.updated_at),
            report_text=lambda r: r.updated_at,
            width=13,
        ),
        Column("rule", "Rule", lambda r: r.rule, width=20, grow=200),
    ),
    screen=("name", "members", "used_by", "updated_at", "rule"),
    report=("name", "members", "used_by", "updated_at", "rule"),
    export=("name", "members", "used_by", "updated_at", "rule"),
)
