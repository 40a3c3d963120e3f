"""Synthetic, deterministic input files for the benchmark: events, contacts, suppressions.

Shapes follow the seed's Reclaim events and Grow contacts (shared/seeds/002). Files are written
line by line, so generating a million rows needs no more memory than generating ten.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

EVENT_NAMES = (
    "Viewed Product Reclaim",
    "Viewed Category Reclaim",
    "Add To Cart Reclaim",
    "Checkout Started Reclaim",
    "Order Completed Reclaim",
)
BRANDS = ("Cupcake", "Brownie", "Coffee Cake", "Marshmallows", "Donut", "Eclair", "Macaron")
DOMAINS = (
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "icloud.com",
    "aol.com",
    "proton.me",
    "retention.com",
    "example.org",
    "mail.example",
)
STATES = ("CA", "NY", "TX", "FL", "WA", "IL", "MA", "CO", "OR", "GA")
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
GROW_DOMAINS = DOMAINS[:9]
"""The Grow benchmark's email-domain filter: every domain but the last, so about 10% of
contacts are filtered out."""


def email_of(index: int) -> str:
    """The benchmark's email for contact number `index` (events use the same people)."""
    return f"user{index}@{DOMAINS[index % len(DOMAINS)]}"


def _message_id(rng: random.Random) -> str:
    return "api-" + "".join(rng.choices(ALPHABET, k=27))


def _timestamp(index: int) -> str:
    seconds = index % 86_400
    return f"2024-04-16T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{index % 1000:03d}Z"


def events(count: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """`count` Segment track objects in the seed's Reclaim shape."""
    rng = random.Random(seed)
    people = max(1, count // 5)
    for index in range(count):
        person = rng.randrange(people)
        email = email_of(person)
        brand = rng.choice(BRANDS)
        product_id = rng.randrange(10**9, 10**10)
        url = f"http://shop{person % 97}.example/product/{product_id}"
        stamp = _timestamp(index)
        yield {
            "anonymousId": hashlib.md5(email.encode()).hexdigest(),
            "context": {
                "app": {"name": "retention", "version": "1.0"},
                "library": {"name": "unknown", "version": "unknown"},
            },
            "email": email,
            "event": EVENT_NAMES[index % len(EVENT_NAMES)],
            "integrations": {},
            "messageId": _message_id(rng),
            "originalTimestamp": stamp,
            "properties": {
                "Brand": brand,
                "CurrencyPrice": f"${rng.randrange(5, 200)}",
                "EventSource": "Reclaim",
                "Name": brand,
                "URL": url,
                "image_url": "https://loremflickr.com/300/300",
                "price": rng.randrange(5, 200),
                "product_id": product_id,
            },
            "timestamp": stamp,
            "type": "track",
        }


def write_events(path: Path, count: int, seed: int = 7) -> Path:
    """Write `count` events as JSONL; returns `path`."""
    with open(path, "wb") as handle:
        for event in events(count, seed):
            handle.write(orjson.dumps(event) + b"\n")
    return path


def contacts(count: int, seed: int = 11) -> Iterator[dict[str, Any]]:
    """`count` Grow contacts (unique emails) in the seed's trait shape."""
    rng = random.Random(seed)
    for index in range(count):
        email = email_of(index)
        stamp = _timestamp(index)
        shop = f"shop{index % 97}.example"
        yield {
            "email": email,
            "first_name": f"First{index % 1000}",
            "last_name": f"Last{index % 777}",
            "address_city": f"City{index % 300}",
            "address_line_1": f"{rng.randrange(1, 9999)} Main St",
            "address_postal": f"{rng.randrange(10000, 99999)}",
            "address_state": STATES[index % len(STATES)],
            "landing_page_url": f"https://{shop}/landing/{index % 50}",
            "referrer": f"https://search{index % 7}.example/?q=cake",
            "page_title": "Cakes and more",
            "clicked_at": stamp,
            "created_at": stamp,
            "updated_at": stamp,
        }


def write_contacts(path: Path, count: int, seed: int = 11) -> Path:
    """Write `count` contacts as JSONL; returns `path`."""
    with open(path, "wb") as handle:
        for contact in contacts(count, seed):
            handle.write(orjson.dumps(contact) + b"\n")
    return path


def write_suppressions(path: Path, contact_count: int, count: int) -> Path:
    """Write `count` emails of the first `contact_count` contacts, one a line, spread evenly."""
    step = max(1, contact_count // max(1, count))
    with open(path, "w", encoding="utf-8") as handle:
        for index in range(0, step * count, step):
            handle.write(email_of(index) + "\n")
    return path
