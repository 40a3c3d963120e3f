"""The dry run of a ReSci destination against the ReSci sandbox on 127.0.0.1: the backfill it
would start (users × fields), the import job it would ask about, then the audience delta; the
receiver sees no request and the store is unchanged; the next run does what it said."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from console.engine.dry_run import dry_run
from tests.resci.conftest import Console, Resci, contact, destination_toml


def dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


async def test_resci_dry_run_sizes_the_backfill_then_counts_the_delta(
    console: Console, resci: Resci
) -> None:
    members = [contact(i) for i in range(30)]
    outsiders = [contact(100 + i, domain="yahoo.com") for i in range(10)]
    console.contacts(members + outsiders)
    console.apply(destination_toml(resci.url))
    path = console.store.path
    assert path is not None
    before = dump(path)

    plan = dry_run(console.store, console.destination(), show=2)

    assert resci.sandbox.requests == 0 and dump(path) == before
    assert plan.backfill is not None
    assert (plan.backfill.users, plan.backfill.fields) == (30, 2)
    assert plan.backfill.reason == "no backfill yet"
    header, first = plan.samples[0].body.splitlines()
    assert header.startswith("record_id,email,account_created_on,full_name,city,")
    assert plan.samples[0].kind == "users file row" and plan.samples[0].email in first

    first_run = await console.run()
    assert first_run.counts.added == plan.backfill.users
    # While the job is queued, the dry run says the run asks about it and sends no update.
    pending = dry_run(console.store, console.destination())
    assert pending.backfill is None and "asks ReSci" in " ".join(pending.notes)
    resci.to_done()
    assert "completed" in (await console.run()).message

    # After the backfill: one user enters, one changes a mapped field, one leaves.
    console.contacts(
        [
            contact(200),
            contact(1, first_name="Renamed"),
            contact(2, state="NY"),
        ]
    )
    requests_before, before = resci.sandbox.requests, dump(path)

    delta = dry_run(console.store, console.destination(), show=3)

    assert resci.sandbox.requests == requests_before and dump(path) == before
    assert (delta.entered, delta.changed, delta.left) == (1, 1, 1)
    assert delta.new["user update"] == 3 and delta.backfill is None
    result = await console.run()
    assert (result.counts.added, result.counts.changed, result.counts.removed) == (1, 1, 1)
    assert result.counts.delivered == delta.would_send == 3
