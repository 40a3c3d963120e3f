"""Domains seen in the store's contacts, most frequent first, with their counts: what the
Segment form offers for its email-domain and landing-page-domain filters (seed 002: those
options "auto-populate" from collected contacts)."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from state.models import Contact, table_of

CONTACTS = table_of(Contact)
COLUMNS = ("email_domain", "landing_page_domain")


def domain_counts(conn: Connection, column: str, limit: int = 50) -> list[tuple[str, int]]:
    """(domain, contacts) for `email_domain` or `landing_page_domain`, most contacts first
    (ties by name), lower-cased as the filters compare them; blanks left out."""
    if column not in COLUMNS:
        raise ValueError(f"no domain column named {column!r}")
    domain = func.lower(CONTACTS.c[column])
    number = func.count()
    rows = conn.execute(
        select(domain, number)
        .where(CONTACTS.c[column].is_not(None), CONTACTS.c[column] != "")
        .group_by(domain)
        .order_by(number.desc(), domain)
        .limit(limit)
    )
    return [(str(name), int(count)) for name, count in rows]
