"""Seed 002: the email-domain and landing-page-domain filters "auto-populate" from the collected
contacts. The Segment form offers the domains seen in the store, most frequent first with their
counts, and typing narrows them (and completes the entry being typed)."""

from __future__ import annotations

from pathlib import Path

import orjson
from textual.widgets import Input, Static

from console import ingest
from console.ui.screens.destination_form import DestinationForm
from console.ui.widgets.domain_suggester import DomainSuggester, hint_text
from state.db import Store
from state.domains import domain_counts
from tests.ui.conftest import SEGMENT, AppFactory
from tests.ui.pilot import press, select_row, settle

DOMAINS = ["gmail.com"] * 5 + ["yahoo.com"] * 3 + ["yandex.ru"] * 2 + ["aol.com"]


def fill(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "contacts.jsonl"
    path.write_bytes(
        b"".join(
            orjson.dumps(
                {
                    "email": f"user{n}@{domain}",
                    "landing_page_url": f"https://{'Shop.Example' if n % 2 else 'robly.com'}/p",
                    "landing_page_domain": "Shop.Example" if n % 2 else "robly.com",
                }
            )
            + b"\n"
            for n, domain in enumerate(DOMAINS)
        )
    )
    assert ingest.import_contacts(store, path).rejected == 0


def test_domains_most_frequent_first(store: Store, tmp_path: Path) -> None:
    fill(store, tmp_path)
    with store.read() as conn:
        assert domain_counts(conn, "email_domain") == [
            ("gmail.com", 5),
            ("yahoo.com", 3),
            ("yandex.ru", 2),
            ("aol.com", 1),
        ]
        assert domain_counts(conn, "landing_page_domain") == [
            ("robly.com", 6),
            ("shop.example", 5),
        ]
    seen = [("gmail.com", 5), ("yahoo.com", 3), ("yandex.ru", 2)]
    assert hint_text(seen, "gmail.com, y") == "seen: yahoo.com (3), yandex.ru (2) · → accepts"
    assert hint_text(seen, "x") == "no domain seen in the store starts with that"


async def test_the_segment_form_offers_and_narrows(
    ui_app: AppFactory, ui_store: Store, tmp_path: Path
) -> None:
    fill(ui_store, tmp_path)
    app = ui_app()
    async with app.run_test(size=(100, 48)) as pilot:
        await settle(pilot)
        await select_row(pilot, "#destinations", SEGMENT)
        await press(pilot, "e")
        form = app.screen
        assert isinstance(form, DestinationForm)
        await settle(pilot)
        hint = form.query_one("#row-filters-email_domains .field-hint", Static)
        field = form.query_one("#f-filters-email_domains", Input)
        # The fixture's filter is "gmail.com, yahoo.com": the entry at the end is yahoo.com.
        assert str(hint.render()) == "seen: yahoo.com (3) · → accepts"
        field.focus()
        field.value = "gmail.com, "
        await settle(pilot)
        assert str(hint.render()) == "seen: yahoo.com (3), yandex.ru (2), aol.com (1) · → accepts"
        field.value = "gmail.com, yahoo.com, ya"
        await settle(pilot)
        assert str(hint.render()) == "seen: yandex.ru (2) · → accepts"
        assert isinstance(field.suggester, DomainSuggester)
        assert (
            await field.suggester.get_suggestion(field.value) == "gmail.com, yahoo.com, yandex.ru"
        )
        landing = form.query_one("#row-filters-landing_page_domains .field-hint", Static)
        assert str(landing.render()) == "seen: robly.com (6), shop.example (5) · → accepts"
