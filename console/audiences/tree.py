"""Audience rules as trees: comparisons joined by and / or / not, compiled once into fast
predicates over contacts (mappings, or tuple rows for the backfill).

`console.audiences.rules` parses the text into these; its docstring is the language's
reference, and what a comparison means is said there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import TypeVar

DATE_FIELDS: tuple[str, ...] = ("clicked_at", "created_at", "updated_at")
DATE_OPERATORS = ("<", "<=", ">", ">=")

C = TypeVar("C")
"""What a compiled rule is given: a contact as a mapping, or as a tuple row for the backfill."""

# A value read from a contact: the getter gets a contact and returns the raw field value.
Getter = Callable[[C], object]
Predicate = Callable[[C], bool]

DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
_CANONICAL = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


# --- tree ---------------------------------------------------------------------------------------


def _text(value: object) -> str:
    if value is None:
        return ""
    return str(value).strip().casefold()


_MEMO_LIMIT = 4096


def _memo(test: Callable[[object], bool]) -> Callable[[object], bool]:
    """`test` with its answers remembered for up to _MEMO_LIMIT distinct values: audience
    fields such as a domain or a state repeat across millions of contacts, and case folding
    each one again is most of the cost of matching them."""
    answers: dict[object, bool] = {}

    def remembered(value: object) -> bool:
        answer = answers.get(value)
        if answer is None:
            answer = test(value)
            if len(answers) < _MEMO_LIMIT:
                answers[value] = answer
        return answer

    return remembered


def _stamp(value: object) -> str | None:
    """A contact's timestamp in the store's canonical form, or None when it has none."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if _CANONICAL.fullmatch(text):
        return text
    try:
        return normalise_timestamp(text)
    except ValueError:
        return text  # not a timestamp: compare as written rather than hide the contact


@dataclass(frozen=True, slots=True)
class Comparison:
    """`field op values`: op is =, !=, in, not in, contains, not contains, <, <=, >, >=, or
    on / not on (a timestamp field compared with a `YYYY-MM-DD` day by `=` / `!=`)."""

    field: str
    op: str
    values: tuple[str, ...]

    def compile(self, get: Getter[C]) -> Predicate[C]:
        op = self.op
        if op in DATE_OPERATORS:
            bound = self.values[0]

            def compare(c: C) -> bool:
                stamp = _stamp(get(c))
                if stamp is None:
                    return False
                if op == "<":
                    return stamp < bound
                if op == "<=":
                    return stamp <= bound
                if op == ">":
                    return stamp > bound
                return stamp >= bound

            return compare
        if op in ("on", "not on"):
            day = self.values[0]

            def same_day(c: C) -> bool:
                stamp = _stamp(get(c))
                return stamp is not None and stamp[:10] == day

            return same_day if op == "on" else (lambda c: not same_day(c))
        wanted = tuple(_text(v) for v in self.values)
        if op in ("=", "!=", "in", "not in"):
            choices = frozenset(wanted)
            test = _memo(lambda value: _text(value) in choices)
        else:
            part = wanted[0]
            test = _memo(lambda value: part in _text(value))
        if op in ("=", "in", "contains"):
            return lambda c: test(get(c))
        return lambda c: not test(get(c))

    def describe(self) -> str:
        if self.op in ("in", "not in"):
            return f"{self.field} {self.op} [{', '.join(_quote(v) for v in self.values)}]"
        op = {"on": "=", "not on": "!="}.get(self.op, self.op)
        return f"{self.field} {op} {_quote(self.values[0])}"


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]

    def compile(self, get_for: Callable[[str], Getter[C]]) -> Predicate[C]:
        parts = tuple(_compile(item, get_for) for item in self.items)
        if len(parts) == 2:
            first, second = parts
            return lambda c: first(c) and second(c)

        def every(c: C) -> bool:
            return all(part(c) for part in parts)

        return every


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]

    def compile(self, get_for: Callable[[str], Getter[C]]) -> Predicate[C]:
        parts = tuple(_compile(item, get_for) for item in self.items)
        if len(parts) == 2:
            first, second = parts
            return lambda c: first(c) or second(c)

        def some(c: C) -> bool:
            return any(part(c) for part in parts)

        return some


@dataclass(frozen=True, slots=True)
class Not:
    item: Node

    def compile(self, get_for: Callable[[str], Getter[C]]) -> Predicate[C]:
        inner = _compile(self.item, get_for)
        return lambda c: not inner(c)


Node = Comparison | And | Or | Not


def _compile(node: Node, get_for: Callable[[str], Getter[C]]) -> Predicate[C]:
    if isinstance(node, Comparison):
        return node.compile(get_for(node.field))
    return node.compile(get_for)


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fields_of(node: Node) -> set[str]:
    if isinstance(node, Comparison):
        return {node.field}
    if isinstance(node, Not):
        return _fields_of(node.item)
    found: set[str] = set()
    for item in node.items:
        found |= _fields_of(item)
    return found


def _by_name(name: str) -> Getter[Mapping[str, object]]:
    return lambda contact: contact.get(name)


def _by_position(position: int) -> Getter[Sequence[object]]:
    return itemgetter(position)


@dataclass(frozen=True)
class Rule:
    """A parsed audience rule. `text` is the rule as written; `node` its tree."""

    text: str
    node: Node
    fields: frozenset[str] = field(init=False)
    """The contact fields the rule reads."""
    _matches: Predicate[Mapping[str, object]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Compiled once: a rule tests every contact of the store on each full delta.
        object.__setattr__(self, "fields", frozenset(_fields_of(self.node)))
        object.__setattr__(self, "_matches", _compile(self.node, _by_name))

    def matches(self, contact: Mapping[str, object]) -> bool:
        """True when the contact (a mapping of contact fields; missing keys are empty) is in
        the audience."""
        return bool(self._matches(contact))

    def predicate(self, columns: Sequence[str]) -> Callable[[Sequence[object]], bool]:
        """A function testing tuple rows whose columns are named by `columns` (which must
        include every field in `fields`)."""
        index = {name: i for i, name in enumerate(columns)}
        missing = sorted(self.fields - set(index))
        if missing:
            raise ValueError(f"the rows lack the rule's fields: {', '.join(missing)}")
        return _compile(self.node, lambda name: _by_position(index[name]))

    def describe(self) -> str:
        """The rule written back in a canonical form (fields, operators, quoted values)."""
        return _describe(self.node, top=True)


def _describe(node: Node, *, top: bool = False) -> str:
    if isinstance(node, Comparison):
        return node.describe()
    if isinstance(node, Not):
        return f"not ({_describe(node.item, top=True)})"
    joiner = " and " if isinstance(node, And) else " or "
    text = joiner.join(_describe(item) for item in node.items)
    return text if top or isinstance(node, And) else f"({text})"


# --- dates --------------------------------------------------------------------------------------


def normalise_timestamp(text: str) -> str:
    """`YYYY-MM-DD` or an ISO-8601 timestamp as the store keeps timestamps:
    `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC (a date is midnight UTC; a naive time is UTC).
    Raises ValueError when the text is neither."""
    text = text.strip()
    if DATE_ONLY.fullmatch(text):
        day = date.fromisoformat(text)
        return f"{day.isoformat()}T00:00:00.000Z"
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
