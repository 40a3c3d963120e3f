"""Audience rules: a small language over contact fields, parsed into a tree that matches contacts.

Grammar (keywords are case-insensitive; `and` binds tighter than `or`)::

    rule        := or_expr
    or_expr     := and_expr ("or" and_expr)*
    and_expr    := unary ("and" unary)*
    unary       := "not" unary | "(" or_expr ")" | comparison
    comparison  := FIELD ("=" | "!=") value
                 | FIELD ("<" | "<=" | ">" | ">=" | "before" | "after") date
                 | FIELD ["not"] "in" "[" value ("," value)* "]"
                 | FIELD ["not"] "contains" value
    value       := 'single quoted' | "double quoted" | bare-word

Example: ``email_domain in [gmail.com, yahoo.com] and (address_state = 'CA' or referrer contains
google)``.

What callers may rely on:

* `parse_rule` raises `ValueError` whose message gives the 1-based position and the reason
  ("position 7: unknown field 'emial'; fields are: ..."). Field names must be contact fields
  (`console.core.fields.CONTACT_FIELDS`).
* Text comparisons (`=`, `!=`, `in`, `contains`) ignore case (Unicode case folding) and
  surrounding spaces of the contact's value. A missing value is the empty text, so
  ``address_state != 'CA'`` matches a contact without a state and ``address_state = ''`` finds
  contacts without one.
* On a timestamp field, `= YYYY-MM-DD` means "on that day (UTC)" and `!=` its opposite.
* `<`, `>`, `<=`, `>=` (and `before` / `after`, the same as `<` / `>`) apply to the timestamp
  fields only (`clicked_at`, `created_at`, `updated_at`) and take a `YYYY-MM-DD` date or an
  ISO-8601 timestamp. Both sides are compared as text in the store's form
  (`YYYY-MM-DDTHH:MM:SS.mmmZ`, UTC), which sorts like time: a date means midnight UTC of that
  day, so ``created_at < 2024-01-01`` is "created before 2024" and ``created_at > 2024-01-01``
  includes the whole of January 1st after midnight. A contact without the value never
  matches a date comparison.
* `Rule.matches(contact)` takes any mapping of contact fields; `Rule.predicate(columns)`
  compiles the rule once for tuple rows whose columns are named by `columns` (what the
  backfill uses to test a million contacts quickly).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from console.audiences.tree import (
    DATE_FIELDS,
    DATE_ONLY,
    DATE_OPERATORS,
    And,
    Comparison,
    Node,
    Not,
    Or,
    Rule,
    normalise_timestamp,
)
from console.core.fields import CONTACT_FIELDS

KEYWORDS = frozenset({"and", "or", "not", "in", "contains", "before", "after"})
MAX_RULE_CHARS = 10_000
# Parentheses and `not`s nest at most this deep. The parser, matcher and SQL compiler recurse
# once per level: 340 levels overflowed Python's stack (a traceback from `config apply`); no
# audience needs more than a handful.
MAX_RULE_DEPTH = 40
# Characters that end a bare word: spaces, quotes, brackets, commas and operator characters.
_BARE_STOP = set(" \t\r\n'\"()[],=!<>")


# --- tokens -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # word | string | op | ( | ) | [ | ] | , | end
    text: str
    position: int  # 1-based column of the first character


def _error(position: int, reason: str) -> ValueError:
    return ValueError(f"position {position}: {reason}")


def tokenize(text: str) -> list[Token]:
    """Split a rule into tokens; raises ValueError for an unclosed quote or a stray character."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        start = i + 1
        if ch in "'\"":
            quote, i, chars = ch, i + 1, []
            while True:
                if i >= n:
                    raise _error(start, f"the quote {quote} is never closed")
                c = text[i]
                if c == "\\" and i + 1 < n and text[i + 1] in (quote, "\\"):
                    chars.append(text[i + 1])
                    i += 2
                    continue
                if c == quote:
                    i += 1
                    break
                chars.append(c)
                i += 1
            tokens.append(Token("string", "".join(chars), start))
            continue
        if ch in "()[],":
            tokens.append(Token(ch, ch, start))
            i += 1
            continue
        if ch in "=!<>":
            two = text[i : i + 2]
            if two in ("!=", "<=", ">=", "=="):
                tokens.append(Token("op", "=" if two == "==" else two, start))
                i += 2
                continue
            if ch == "!":
                raise _error(start, "'!' must be followed by '=' (not equal)")
            tokens.append(Token("op", ch, start))
            i += 1
            continue
        j = i
        while j < n and text[j] not in _BARE_STOP:
            j += 1
        tokens.append(Token("word", text[i:j], start))
        i = j
    tokens.append(Token("end", "", n + 1))
    return tokens


# --- parser -------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.current
        return token.kind == "word" and token.text.lower() == word

    def parse(self) -> Node:
        if self.current.kind == "end":
            raise _error(1, "the rule is empty")
        node = self.or_expr()
        token = self.current
        if token.kind != "end":
            raise _error(token.position, f"expected 'and', 'or' or the end, found {_show(token)}")
        return node

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.keyword("or"):
            self.advance()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Node:
        items = [self.unary()]
        while self.keyword("and"):
            self.advance()
            items.append(self.unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self) -> Node:
        token = self.current
        if self.keyword("not") or token.kind == "(":
            if self.depth >= MAX_RULE_DEPTH:
                raise _error(
                    token.position,
                    f"parentheses and 'not' nest deeper than {MAX_RULE_DEPTH} levels",
                )
            self.depth += 1
            try:
                return self._nested(token)
            finally:
                self.depth -= 1
        return self.comparison()

    def _nested(self, token: Token) -> Node:
        """`not unary` or `( or_expr )`, starting at `token` (unary saw one of the two)."""
        if self.keyword("not"):
            self.advance()
            return Not(self.unary())
        self.advance()
        node = self.or_expr()
        closing = self.current
        if closing.kind != ")":
            raise _error(
                closing.position,
                f"expected ')' to close the '(' at position {token.position}, "
                f"found {_show(closing)}",
            )
        self.advance()
        return node

    def comparison(self) -> Comparison:
        token = self.advance()
        if token.kind != "word" or token.text.lower() in KEYWORDS:
            raise _error(token.position, f"expected a contact field, found {_show(token)}")
        name = token.text.lower()
        if name not in CONTACT_FIELDS:
            raise _error(
                token.position,
                f"unknown field {token.text!r}; fields are: {', '.join(CONTACT_FIELDS)}",
            )
        negated = False
        op_token = self.current
        if self.keyword("not"):
            self.advance()
            negated = True
            op_token = self.current
            if not (self.keyword("in") or self.keyword("contains")):
                raise _error(
                    op_token.position,
                    f"expected 'in' or 'contains' after 'not', found {_show(op_token)}",
                )
        if self.keyword("in"):
            self.advance()
            values = self.value_list(op_token)
            return Comparison(name, "not in" if negated else "in", values)
        if self.keyword("contains"):
            self.advance()
            value = self.value(op_token)
            if not value:
                raise _error(op_token.position, "'contains' needs some text to look for")
            return Comparison(name, "not contains" if negated else "contains", (value,))
        if self.keyword("before") or self.keyword("after"):
            self.advance()
            op = "<" if op_token.text.lower() == "before" else ">"
            return self.date_comparison(name, op, op_token)
        if op_token.kind != "op":
            raise _error(
                op_token.position,
                f"expected an operator after {name!r} (=, !=, in, contains, <, >), "
                f"found {_show(op_token)}",
            )
        self.advance()
        if op_token.text in DATE_OPERATORS:
            return self.date_comparison(name, op_token.text, op_token)
        value = self.value(op_token)
        if name in DATE_FIELDS and DATE_ONLY.fullmatch(value.strip()):
            # `created_at = 2024-05-01` means "on that day", not "at midnight exactly".
            try:
                day = date.fromisoformat(value.strip()).isoformat()
            except ValueError:
                raise _error(
                    self.tokens[self.i - 1].position, f"{value!r} is not a real date"
                ) from None
            return Comparison(name, "on" if op_token.text == "=" else "not on", (day,))
        return Comparison(name, op_token.text, (value,))

    def date_comparison(self, name: str, op: str, op_token: Token) -> Comparison:
        if name not in DATE_FIELDS:
            raise _error(
                op_token.position,
                f"{op_token.text!r} compares dates; it applies to {', '.join(DATE_FIELDS)}, "
                f"not {name!r}",
            )
        value_token = self.current
        value = self.value(op_token)
        try:
            bound = normalise_timestamp(value)
        except ValueError:
            raise _error(
                value_token.position,
                f"{value!r} is not a date: write YYYY-MM-DD or an ISO-8601 timestamp",
            ) from None
        return Comparison(name, op, (bound,))

    def value(self, after: Token) -> str:
        token = self.current
        if token.kind == "string":
            self.advance()
            return token.text
        if token.kind == "word":
            if token.text.lower() in KEYWORDS:
                raise _error(
                    token.position,
                    f"expected a value after {after.text!r}, found the keyword {token.text!r} "
                    f"(quote it, '{token.text}', to use it as a value)",
                )
            self.advance()
            return token.text
        raise _error(token.position, f"expected a value after {after.text!r}, found {_show(token)}")

    def value_list(self, after: Token) -> tuple[str, ...]:
        opening = self.current
        if opening.kind != "[":
            raise _error(
                opening.position, f"expected '[' after {after.text!r}, found {_show(opening)}"
            )
        self.advance()
        if self.current.kind == "]":
            raise _error(self.current.position, "the list is empty: give at least one value")
        values = [self.value(opening)]
        while self.current.kind == ",":
            comma = self.advance()
            if self.current.kind == "]":
                break  # a trailing comma is harmless
            values.append(self.value(comma))
        closing = self.current
        if closing.kind != "]":
            raise _error(
                closing.position,
                f"expected ',' or ']' to close the list opened at position {opening.position}, "
                f"found {_show(closing)}",
            )
        self.advance()
        return tuple(values)


def _show(token: Token) -> str:
    if token.kind == "end":
        return "the end of the rule"
    if token.kind == "string":
        return f"the text {token.text!r}"
    return repr(token.text)


def parse_rule(text: str) -> Rule:
    """Parse an audience rule; raises ValueError("position N: reason") when it does not parse
    or names an unknown field."""
    if not isinstance(text, str):
        raise ValueError("position 1: a rule must be text")
    if len(text) > MAX_RULE_CHARS:
        raise ValueError(f"position 1: the rule is longer than {MAX_RULE_CHARS} characters")
    node = _Parser(tokenize(text)).parse()
    return Rule(text.strip(), node)
