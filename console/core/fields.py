"""The contact vocabulary shared by the store, ingest, audience rules and the kinds' settings."""

from __future__ import annotations

# Contact attributes an operator may filter on, map or use in audience rules.
CONTACT_FIELDS: tuple[str, ...] = (
    "email",
    "email_domain",
    "first_name",
    "last_name",
    "address_city",
    "address_line_1",
    "address_postal",
    "address_state",
    "landing_page_url",
    "landing_page_domain",
    "referrer",
    "page_title",
    "clicked_at",
    "created_at",
    "updated_at",
    "extra_data",
    "anonymous_id",
)
