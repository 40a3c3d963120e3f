"""The demo: a fresh store with generated contacts, events, suppressions and an audience, and
one Segment and one ReSci destination pointed at in-process sandboxes that reject a few emails,
plus one destination of every other kind whose sandbox receiver declares itself
(`console/sandbox/receivers.py`), named `<kind>-demo`.

Everything generated is deterministic (a seeded RNG), so two demos look alike. With
`history_days`, both destinations are also delivered once a day for the days before
today, through the real engine with the store's clock set back, so the Sync summary has
history to chart and a newcomer sees failures spread over several days.

`build_demo` does it all at once. The console's `demo` command splits it: `create_demo`
(the store, the sandboxes and the destinations: well under a second) before the console
opens, then `fill_demo` (contacts, events and the days of history: seconds) in a thread while
the console shows it landing.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from console.core import clock
from console.core.identity import email_md5
from console.destinations import registry
from console.engine.destinations import save_destination
from console.ingest.contacts import contact_content_hash
from console.sandbox import Faults, ResciSandbox, SandboxApp, SandboxServer, SegmentSandbox
from console.sandbox.receivers import discovered_receivers
from state.audiences import save_audience
from state.contacts import insert_contacts
from state.db import Store, open_store
from state.events import insert_events
from state.suppressions import add_suppressions

SEGMENT_NAME = "segment-demo"
RESCI_NAME = "resci-demo"
# Literal demo keys (the sandboxes accept any key). Shown masked: ••••7Qx2 and ••••K9p4.
SEGMENT_WRITE_KEY = "demo-segment-write-key-7Qx2"
RESCI_API_KEY = "demo-resci-api-key-K9p4"
AUDIENCE_NAME = "california-gmail"
AUDIENCE_RULE = "email_domain = 'gmail.com' and address_state = 'CA'"
EVENT_NAMES = (
    "Viewed Product Reclaim",
    "Add To Cart Reclaim",
    "Checkout Started Reclaim",
    "Viewed Category Reclaim",
)
EVENT_MAPPING = {
    "Viewed Product Reclaim": "view",
    "Viewed Category Reclaim": "view",
    "Add To Cart Reclaim": "shopping_cart",
    "Checkout Started Reclaim": "checkout_success",
}
EXPORT_FIELDS = {
    "first_name": "full_name",
    "address_city": "city",
    "address_state": "state",
    "address_postal": "zip",
}

FIRST = ("ana", "ben", "chloe", "dev", "elena", "farah", "gus", "hana", "ivan", "june", "kai",
         "lena", "milo", "nora", "omar", "pia", "quinn", "rosa", "sam", "tara", "umar", "vera",
         "wes", "xena", "yuri", "zoe")  # fmt: skip
LAST = ("adams", "baker", "cruz", "diaz", "evans", "fox", "garcia", "hughes", "ito", "jones",
        "kim", "lopez", "moore", "nguyen", "ortiz", "patel", "reyes", "silva", "tan", "wong")  # fmt: skip
DOMAINS = (("gmail.com", 38), ("yahoo.com", 18), ("outlook.com", 14), ("aol.com", 8),
           ("icloud.com", 10), ("retention.com", 4), ("shopmail.example", 8))  # fmt: skip
STATES = (("CA", 34), ("NY", 14), ("TX", 12), ("FL", 10), ("WA", 8), ("IL", 7), (None, 15))
CITIES = {"CA": "Los Angeles", "NY": "New York", "TX": "Austin", "FL": "Miami",
          "WA": "Seattle", "IL": "Chicago"}  # fmt: skip
SITES = ("retention.com", "robly.com", "shop.example")
REFERRERS = ("https://www.google.com/", "https://www.facebook.com/", "https://news.example/deals",
             None)  # fmt: skip
PRODUCTS = (("Chocolate Sprinkles", "Coffee Cake", 47), ("Berry Compote", "Brownie", 64),
            ("Marshmallows", "Cupcake", 8), ("Frosting", "Pie", 12), ("Ice Cream", "Sundae", 23))  # fmt: skip


@dataclass
class DemoData:
    """The generated rows `fill_demo` writes, and the moment they were generated around."""

    people: list[dict[str, Any]]
    activity: list[dict[str, Any]]
    suppressed: list[str]
    now: datetime
    frozen_at: datetime | None


@dataclass
class DemoEnvironment:
    """The demo's store and sandboxes; `close()` stops the sandboxes and the store."""

    store: Store
    segment: SandboxServer[SegmentSandbox]
    resci: SandboxServer[ResciSandbox]
    rejected_emails: list[str]
    contacts: int
    events: int
    history_days: int = 0
    notes: list[str] = field(default_factory=list)
    others: list[SandboxServer[SandboxApp]] = field(default_factory=list)
    """The receivers of the other kinds, in `discovered_receivers()` order."""
    pending: DemoData | None = None
    """What `fill_demo` still has to put in the store (None once it has)."""

    @property
    def segment_sandbox(self) -> SegmentSandbox:
        return self.segment.app

    @property
    def resci_sandbox(self) -> ResciSandbox:
        return self.resci.app

    def close(self) -> None:
        for server in (self.segment, self.resci, *self.others):
            server.stop()
        self.store.dispose()


def _weighted(rng: random.Random, choices: tuple[tuple[Any, int], ...]) -> Any:
    values, weights = zip(*choices, strict=True)
    return rng.choices(values, weights=weights)[0]


def generate_contacts(
    rng: random.Random, count: int, now: datetime, days: int
) -> list[dict[str, Any]]:
    """`count` contacts created over the last `days` days (more of them today)."""
    contacts: list[dict[str, Any]] = []
    seen: set[str] = set()
    while len(contacts) < count:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        domain = _weighted(rng, DOMAINS)
        email = f"{first}.{last}{rng.randint(1, 999)}@{domain}"
        if email in seen:
            continue
        seen.add(email)
        state = _weighted(rng, STATES)
        site = rng.choice(SITES)
        age_days = 0 if rng.random() < 0.15 else rng.randrange(days)
        created = now - timedelta(days=age_days, minutes=rng.randrange(8 * 60))
        stamp = clock.iso(created)
        contact: dict[str, Any] = {
            "email": email,
            "email_domain": domain,
            "first_name": first.title(),
            "last_name": last.title(),
            "address_city": CITIES.get(state) if state else None,
            "address_line_1": f"{rng.randint(1, 999)} Market St" if state else None,
            "address_postal": f"{rng.randint(10000, 99999)}" if state else None,
            "address_state": state,
            "landing_page_url": f"https://{site}/{rng.choice(('launch', 'sale', 'new', 'gift'))}",
            "landing_page_domain": site,
            "referrer": rng.choice(REFERRERS),
            "page_title": rng.choice(("Spring sale", "New arrivals", "Gift ideas")),
            "clicked_at": stamp,
            "created_at": stamp,
            "updated_at": stamp,
            "extra_data": None,
            "anonymous_id": hashlib.md5(f"anon-{email}".encode()).hexdigest(),
        }
        contact["content_hash"] = contact_content_hash(contact)
        contacts.append(contact)
    contacts.sort(key=lambda c: c["created_at"])
    for seq, contact in enumerate(contacts, 1):
        contact["seq"] = seq
    return contacts


def _properties(rng: random.Random, name: str) -> dict[str, Any]:
    product, brand, price = rng.choice(PRODUCTS)
    product_id = rng.randint(1_000_000_000, 9_999_999_999)
    url = f"https://shop.example/products/{product.lower().replace(' ', '-')}"
    if name == "Checkout Started Reclaim":
        quantity = rng.randint(1, 3)
        return {
            "EventSource": "Reclaim",
            "cart_amount": round(price * quantity * 1.0, 2),
            "cart_id": hashlib.md5(f"{product_id}".encode()).hexdigest()[:18],
            "currency": "USD",
            "line_items": [{"id": product_id, "quantity": quantity, "title": product}],
        }
    if name == "Viewed Category Reclaim":
        return {"EventSource": "Reclaim", "Name": brand, "URL": url, "name": brand, "url": url}
    properties = {
        "Brand": brand,
        "CurrencyPrice": f"${price}",
        "EventSource": "Reclaim",
        "Name": product,
        "Price": str(price),
        "ProductID": product_id,
        "URL": url,
    }
    if name == "Add To Cart Reclaim":
        properties.update({"CartSource": "GE", "Quantity": 1})
    return properties


def generate_events(
    rng: random.Random, count: int, contacts: list[dict[str, Any]], now: datetime, days: int
) -> list[dict[str, Any]]:
    """`count` shopping events by the contacts, spread over the last `days` days."""
    events: list[dict[str, Any]] = []
    weights = (45, 25, 10, 20)
    for number in range(1, count + 1):
        contact = rng.choice(contacts)
        name = rng.choices(EVENT_NAMES, weights=weights)[0]
        created = clock.parse_iso(contact["created_at"])
        moment = created + timedelta(minutes=rng.randrange(1, 6 * 60))
        moment = min(moment, now - timedelta(minutes=1))
        stamp = clock.iso(moment)
        events.append(
            {
                "message_id": f"demo-event-{number:05d}",
                "event": name,
                "email": contact["email"],
                "anonymous_id": contact["anonymous_id"],
                "user_id": None,
                "properties": orjson.dumps(_properties(rng, name)).decode(),
                "timestamp": stamp,
                "original_timestamp": stamp,
            }
        )
    events.sort(key=lambda e: e["timestamp"])
    return events


def _insert_data(
    store: Store,
    contacts: list[dict[str, Any]],
    events: list[dict[str, Any]],
    suppressed: list[str],
) -> None:
    with store.write() as conn:
        insert_contacts(conn, contacts)
        insert_events(conn, events)
        add_suppressions(conn, (email_md5(e) for e in suppressed), "demo suppression list")


DEMO_AUTHOR = "retention-console demo"
"""Who the panel says changed the demo's destinations last."""


@dataclass(frozen=True)
class DemoOptions:
    """How big the demo is and where it listens; the defaults are `retention-console demo`'s."""

    contacts: int = 400
    events: int = 1500
    history_days: int = 0
    """Past days delivered through the engine before the console opens."""
    schedule_minutes: int = 1
    seed: int = 2026
    job_delay_seconds: float = 5.0
    """How long ReSci's sandbox takes over an import job."""
    segment_port: int = 0
    resci_port: int = 0
    """0 picks a free port."""
    frozen_at: datetime | None = None
    """Build the data around this moment and leave the store's clock frozen there (the
    screenshots); by default the data is built around the real time."""


def build_demo(store_path: str | Path, options: DemoOptions | None = None) -> DemoEnvironment:
    """Create the demo store at `store_path` (which must not exist), start the sandboxes and
    fill the store: `create_demo`, then `fill_demo`.

    Raises FileExistsError rather than touching an existing store.
    """
    env = create_demo(store_path, options)
    fill_demo(env)
    return env


def create_demo(store_path: str | Path, options: DemoOptions | None = None) -> DemoEnvironment:
    """The store with its audience and destinations, and the sandboxes started; the contacts,
    events and history wait in `pending` for `fill_demo`. Same arguments as `build_demo`."""
    options = options or DemoOptions()
    contacts, events, history_days = options.contacts, options.events, options.history_days
    schedule_minutes, frozen_at = options.schedule_minutes, options.frozen_at
    path = Path(store_path)
    if path.exists():
        raise FileExistsError(f"{path} exists; the demo builds a new store (pass another --db)")
    rng = random.Random(options.seed)
    now = (frozen_at or clock.now()).astimezone(UTC)
    span = max(history_days, 1) + 1
    people = generate_contacts(rng, contacts, now, span)
    activity = generate_events(rng, events, people, now, span)
    # A few addresses the sandboxes refuse (Segment per request, ReSci per import row): the
    # failures a newcomer drills into. Suppressed ones are taken from the rest.
    candidates = [c["email"] for c in people if c["email_domain"] != "retention.com"]
    rejected = sorted(rng.sample(candidates, 5))
    others = [e for e in candidates if e not in rejected]
    suppressed = rng.sample(others, 25)

    store = open_store(path)
    with store.write() as conn:
        save_audience(conn, AUDIENCE_NAME, AUDIENCE_RULE, updated_at=clock.iso(now))
    faults = Faults(reject_emails=set(rejected))
    segment = SandboxServer(SegmentSandbox(faults=faults), port=options.segment_port).start()
    resci = SandboxServer(
        ResciSandbox(
            site_id=4242,
            job_delay_seconds=options.job_delay_seconds,
            faults=Faults(reject_emails=set(rejected)),
        ),
        port=options.resci_port,
    ).start()
    receivers = discovered_receivers()
    others = [
        SandboxServer(spec.build(Faults(reject_emails=set(rejected)))).start() for spec in receivers
    ]
    with store.write() as conn:
        save_destination(
            conn,
            SEGMENT_NAME,
            registry.parse_settings(
                "segment",
                {
                    "write_key": SEGMENT_WRITE_KEY,
                    "endpoint": segment.url,
                    "group_id": "demo-list",
                    "revenue_metric": "Price",
                    "reclaim_events": list(EVENT_NAMES),
                    "schedule_minutes": schedule_minutes,
                },
            ),
            by=DEMO_AUTHOR,
        )
        save_destination(
            conn,
            RESCI_NAME,
            registry.parse_settings(
                "resci",
                {
                    "api_key": RESCI_API_KEY,
                    "api_key_label": "Demo key",
                    "api_key_description": "sandbox key for the demo",
                    "production_key": False,  # the local sandbox's key, no live account
                    "endpoint": resci.url,
                    "site_id": "4242",
                    "on_site": True,
                    "schedule_minutes": schedule_minutes,
                    "export": {"audience": AUDIENCE_NAME, "fields": EXPORT_FIELDS},
                    "events": EVENT_MAPPING,
                },
            ),
            by=DEMO_AUTHOR,
        )
        for spec, server in zip(receivers, others, strict=True):
            settings = {**spec.demo_settings(server.url), "schedule_minutes": schedule_minutes}
            save_destination(
                conn,
                f"{spec.kind}-demo",
                registry.parse_settings(spec.kind, settings),
                by=DEMO_AUTHOR,
            )
    env = DemoEnvironment(
        store, segment, resci, rejected, contacts, events, history_days, others=others
    )
    env.pending = DemoData(people, activity, suppressed, now, frozen_at)
    return env


def fill_demo(env: DemoEnvironment, progress: Callable[[str], None] | None = None) -> None:
    """Write the pending contacts, events and suppressions, delivering the past days first
    when the demo has history; `progress` hears what was done after each step (from this
    thread). Blocks for seconds: the console calls it off its event loop."""
    data = env.pending
    if data is None:
        return
    if env.history_days:
        _deliver_history(env, data, env.history_days, progress or (lambda _step: None))
    else:
        _insert_data(env.store, data.people, data.activity, data.suppressed)
    env.pending = None
    if progress is not None:
        progress("done")


def _stopped_at(moment: datetime) -> Callable[[], datetime]:
    """A clock that always reads `moment`."""
    return lambda: moment


def _deliver_history(
    env: DemoEnvironment, data: DemoData, days: int, progress: Callable[[str], None]
) -> None:
    """Insert each past day's contacts and events and deliver both destinations as of that
    day's end, through the engine, with the store's clock set to that moment; today's rows
    stay queued for the console's first run."""
    from console.core.vocab import Trigger
    from console.engine.options import EngineOptions
    from console.engine.runner import run_all

    people, activity, suppressed, now = data.people, data.activity, data.suppressed, data.now
    options = EngineOptions(max_wait_seconds=0.0)
    inserted_c = inserted_e = 0
    # ReSci's audience import completes at once in the past; live runs see the real delay.
    resci = env.resci_sandbox
    job_delay, resci.job_delay_seconds = resci.job_delay_seconds, 0.0
    try:
        for back in range(days, 0, -1):
            moment = (now - timedelta(days=back)).replace(hour=23, minute=30, second=0)
            cut = clock.iso(moment)
            day_contacts = [c for c in people[inserted_c:] if c["created_at"] <= cut]
            day_events = [e for e in activity[inserted_e:] if e["timestamp"] <= cut]
            _insert_data(env.store, day_contacts, day_events, suppressed if back == days else [])
            inserted_c += len(day_contacts)
            inserted_e += len(day_events)
            clock.set_clock(_stopped_at(moment))
            asyncio.run(run_all(env.store, Trigger.SCHEDULE, options))
            progress(f"day {days - back + 1} of {days}")
    finally:
        resci.job_delay_seconds = job_delay
        frozen_at = data.frozen_at
        clock.set_clock((lambda: frozen_at) if frozen_at else None)
    _insert_data(env.store, people[inserted_c:], activity[inserted_e:], [])
