"""Audience rules: what they match, how they are refused, and that the fast tuple predicate
the backfill uses agrees with `Rule.matches`."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.audiences.rules import parse_rule
from console.core.fields import CONTACT_FIELDS

ANN = {
    "email": "ann@gmail.com",
    "email_domain": "gmail.com",
    "first_name": "Ann",
    "address_state": "CA",
    "landing_page_url": "https://Shop.example/Launch?utm=spring",
    "created_at": "2024-03-05T10:00:00.000Z",
}


@pytest.mark.parametrize(
    ("rule", "matches"),
    [
        ("email_domain = 'gmail.com' and address_state = 'CA'", True),
        ("email_domain = gmail.com and address_state = NY", False),
        ('email_domain = "GMAIL.COM"', True),  # text compares without case
        ("address_state != 'NY'", True),
        ("address_state != ca", False),
        ("email_domain in [gmail.com, yahoo.com]", True),
        ("email_domain in ['yahoo.com', \"aol.com\"]", False),
        ("address_state not in [NY, TX,]", True),  # a trailing comma is fine
        ("landing_page_url contains launch", True),
        ("landing_page_url not contains 'utm=autumn'", True),
        ("address_city = ''", True),  # a missing value is the empty text
        ("address_city != ''", False),
        ("address_city contains x", False),
        # `and` binds tighter than `or`
        ("address_state = NY and first_name = Bob or email_domain = gmail.com", True),
        ("address_state = NY and (first_name = Bob or email_domain = gmail.com)", False),
        ("not (address_state = NY) and not first_name = Bob", True),
        # dates, compared in the store's UTC form
        ("created_at < 2024-04-01", True),
        ("created_at before 2024-03-05", False),
        ("created_at > 2024-03-05", True),  # after midnight of that day
        ("created_at after 2024-03-05T12:00:00+02:00", False),  # 10:00 UTC
        ("created_at >= 2024-03-05T10:00:00Z", True),
        ("created_at <= 2024-03-05T09:59:59.999Z", False),
        ("created_at = 2024-03-05", True),  # on that day
        ("created_at != 2024-03-05", False),
        ("updated_at < 2999-01-01", False),  # no value never matches a date comparison
        ("updated_at > 1999-01-01", False),
    ],
)
def test_matches(rule: str, matches: bool) -> None:
    parsed = parse_rule(rule)
    assert parsed.matches(ANN) is matches
    columns = list(CONTACT_FIELDS)
    row = tuple(ANN.get(name) for name in columns)
    assert parsed.predicate(columns)(row) is matches


def test_fields_and_canonical_form() -> None:
    rule = parse_rule(
        "EMAIL_DOMAIN in [gmail.com] AND (address_state = CA OR created_at < 2024-01-01)"
    )
    assert rule.fields == {"email_domain", "address_state", "created_at"}
    assert rule.describe() == (
        "email_domain in ['gmail.com'] and (address_state = 'CA' or "
        "created_at < '2024-01-01T00:00:00.000Z')"
    )
    assert parse_rule(rule.describe()).describe() == rule.describe()


def test_quotes_and_escapes() -> None:
    rule = parse_rule(r"first_name = 'O\'Brien' or first_name = 'and'")
    assert rule.matches({"first_name": "o'brien"})
    assert rule.matches({"first_name": "AND"})


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("", "position 1: the rule is empty"),
        ("   ", "position 1: the rule is empty"),
        ("emial = x", "position 1: unknown field 'emial'; fields are: email, email_domain,"),
        ("email_domain =", "position 15: expected a value after '=', found the end of the rule"),
        ("email_domain gmail.com", "position 14: expected an operator after 'email_domain'"),
        ("email_domain = x y", "position 18: expected 'and', 'or' or the end, found 'y'"),
        ("email_domain = x and", "position 21: expected a contact field, found the end"),
        ("(email_domain = x", "position 18: expected ')' to close the '(' at position 1"),
        ("email_domain = x)", "position 17: expected 'and', 'or' or the end, found ')'"),
        ("email_domain in []", "position 18: the list is empty"),
        ("email_domain in gmail.com", "position 17: expected '[' after 'in'"),
        ("email_domain in [a b]", "position 20: expected ',' or ']' to close the list"),
        ("email = 'x", "position 9: the quote ' is never closed"),
        ("email ! x", "position 7: '!' must be followed by '='"),
        ("email = or", "position 9: expected a value after '=', found the keyword 'or'"),
        ("first_name < 3", "position 12: '<' compares dates; it applies to clicked_at"),
        ("created_at > yesterday", "position 14: 'yesterday' is not a date"),
        ("created_at = 2024-02-30", "position 14: '2024-02-30' is not a real date"),
        ("email_domain not = x", "position 18: expected 'in' or 'contains' after 'not'"),
        ("email contains ''", "position 7: 'contains' needs some text to look for"),
    ],
)
def test_refusals_give_position_and_reason(rule: str, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_rule(rule)
    assert str(refused.value).startswith(message)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text_parses_or_is_refused_with_a_value_error(text: str) -> None:
    try:
        parse_rule(text)
    except ValueError as exc:
        assert str(exc).startswith("position ")


VALUES = st.sampled_from(["CA", "ca", "NY", "gmail.com", "Yahoo.com", "", None])
STAMPS = st.sampled_from(
    [None, "2023-12-31T23:59:59.999Z", "2024-01-01T00:00:00.000Z", "2024-06-01T12:00:00.000Z"]
)
CONTACTS = st.fixed_dictionaries(
    {
        "email_domain": VALUES,
        "address_state": VALUES,
        "first_name": VALUES,
        "created_at": STAMPS,
    }
)
ATOMS = st.sampled_from(
    [
        "address_state = CA",
        "address_state != ny",
        "email_domain in [gmail.com, yahoo.com]",
        "first_name contains a",
        "first_name not in ['']",
        "created_at < 2024-01-01",
        "created_at >= 2024-01-01",
        "created_at = 2024-06-01",
    ]
)
RULES = st.recursive(
    ATOMS,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from([" and ", " or "]), inner).map("".join),
        inner.map(lambda r: f"({r})"),
        inner.map(lambda r: f"not ({r})"),
    ),
    max_leaves=6,
)


@settings(max_examples=200, deadline=None)
@given(RULES, st.lists(CONTACTS, min_size=1, max_size=8))
def test_tuple_predicate_and_canonical_form_agree_with_matches(
    text: str, contacts: list[dict[str, Any]]
) -> None:
    rule = parse_rule(text)
    again = parse_rule(rule.describe())
    columns = ["id", "seq", *sorted(rule.fields | {"email_domain"})]
    predicate = rule.predicate(columns)
    for contact in contacts:
        row = (1, 1, *(contact.get(c) for c in columns[2:]))
        assert predicate(row) == rule.matches(contact) == again.matches(contact)


def test_deep_nesting_is_refused_with_its_position() -> None:
    rule = "(" * 340 + "email_domain = 'gmail.com'" + ")" * 340
    with pytest.raises(ValueError, match=r"^position 41: parentheses and 'not' nest deeper"):
        parse_rule(rule)
    with pytest.raises(ValueError, match="nest deeper than 40"):
        parse_rule("not " * 300 + "email_domain = 'gmail.com'")
    # Forty levels still parse.
    assert parse_rule("(" * 40 + "email_domain = 'x'" + ")" * 40).matches({"email_domain": "x"})
