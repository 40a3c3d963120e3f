"""The dry run of a ReSci destination against the ReSci sandbox on 127.0.0.1: the backfill it
would start (users × fields), the import job it would ask about, then the audience delta; the
receiver sees no request and the store is unchanged; the next run does what it said."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from console.destinations import preview as sampling
from console.destinations.preview import DryRunPlan
from console.engine.dry_run import change_impact, dry_run, preview
from console.ui.change_confirm import detail, question
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


async def test_a_change_that_starts_a_re_export_is_sized_before_it_is_saved(
    console: Console, resci: Resci
) -> None:
    """Adding a mapped field after a completed backfill starts a re-export of every member:
    `change_impact` says so with the count; a change that re-sends nothing asks nothing;
    switching the destination on says what its next run sends."""
    console.contacts([contact(i) for i in range(25)] + [contact(900, state="NY")])
    console.apply(destination_toml(resci.url))
    await console.run()
    resci.to_done()
    assert "completed" in (await console.run()).message
    record = console.destination()
    fields = {**record.settings.export.fields, "address_state": "state"}
    more = record.settings.model_copy(
        update={"export": record.settings.export.model_copy(update={"fields": fields})}
    )
    before, requests = dump(console.store.path), resci.sandbox.requests  # type: ignore[arg-type]

    plan = change_impact(console.store, record, more, enabled=True)

    assert plan is not None and plan.backfill is not None
    assert (plan.backfill.users, plan.backfill.fields) == (25, 3)
    assert (
        plan.backfill.reason == "the audience or its mapped fields changed since the last backfill"
    )
    assert question(plan, enabling=False) == "Save resci-main? It starts a re-export of 25 users"
    slower = record.settings.model_copy(update={"schedule_minutes": 60})
    assert change_impact(console.store, record, slower, enabled=True) is None
    assert change_impact(console.store, record, more, enabled=False) is None  # stays off
    off = replace(record, enabled=False)
    switching_on = change_impact(console.store, off, record.settings, enabled=True)
    assert switching_on is not None and switching_on.would_send == 0
    assert dump(console.store.path) == before and resci.sandbox.requests == requests  # type: ignore[arg-type]


async def test_a_test_destination_on_a_production_key_is_confirmed_explicitly(
    console: Console, resci: Resci
) -> None:
    """ReSci `test = true` with a key marked production (the default): switching it on, or
    saving an enabled destination into that state, asks explicitly; a key marked as a test
    account's (`production_key = false`) asks nothing more than the count."""
    console.contacts([contact(i) for i in range(3)])
    console.apply(destination_toml(resci.url))
    record = console.destination()
    assert record.settings.production_key and not record.settings.test
    marked = record.settings.model_copy(update={"test": True})

    plan = change_impact(console.store, record, marked, enabled=True)

    assert plan is not None and plan.warnings
    assert question(plan, enabling=False).startswith(
        "resci-main is a test destination on a production key: go live anyway?"
    )
    assert "its users would reach the live ReSci account" in detail(plan)
    off = replace(record, enabled=False, settings=marked)
    assert change_impact(console.store, off, marked, enabled=True).warnings  # type: ignore[union-attr]
    # Already confirmed (stored test on production): a later save asks nothing new.
    on = replace(record, settings=marked)
    later = marked.model_copy(update={"schedule_minutes": 60})
    assert change_impact(console.store, on, later, enabled=True) is None
    test_key = marked.model_copy(update={"production_key": False})
    assert change_impact(console.store, record, test_key, enabled=True) is None
    assert resci.sandbox.requests == 0


def test_a_backfill_count_past_its_budget_reads_windows_across_the_contacts(
    console: Console, resci: Resci, monkeypatch: pytest.MonkeyPatch
) -> None:
    """3,000 contacts, the first 1,500 in the audience and the rest not: a count cut short by
    its budget reads windows spread over every contact (the first rows alone would say all
    3,000 are members) and scales them; the plan says it is an estimate."""
    console.contacts([contact(i, state="CA" if i < 1500 else "NY") for i in range(3000)])
    console.apply(destination_toml(resci.url))
    monkeypatch.setattr(sampling, "SAMPLE_ABOVE", 1000)
    monkeypatch.setattr(sampling, "SAMPLE_WINDOW", 100)
    calls = iter(range(1000))
    monkeypatch.setattr(DryRunPlan, "out_of_time", lambda self: next(calls) >= 7)

    plan = preview(console.store, "new", console.destination().settings)

    assert plan.backfill is not None and plan.backfill.estimated and not plan.complete
    assert plan.read == 800
    assert 1200 <= plan.backfill.users <= 1800, plan.backfill  # truth: 1,500
