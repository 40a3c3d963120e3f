"""The dry run (`--run-once --dry-run`, `console.engine.dry_run`) against sandbox receivers on
127.0.0.1: the receiver sees no request, every table holds the same rows before and after (a
dump of the whole store), and the counts are those the real run that follows then makes."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from console.cli import main
from console.config import apply_config
from console.core.vocab import Trigger
from console.destinations import preview as sampling
from console.destinations.preview import DryRunPlan
from console.engine.destinations import get_destination
from console.engine.dry_run import dry_run, dry_run_all, preview
from console.engine.options import EngineOptions
from console.engine.runner import RunResult, run_all, run_destination
from console.ingest import import_contacts, import_events, import_suppressions
from console.reports.dry_run import preview_line
from console.sandbox import SandboxServer, SegmentSandbox
from console.sandbox.webhook import WebhookSandbox
from state.db import Store
from tests.resci.conftest import FAST
from tests.webhook.conftest import SECRET, event_line, webhook_toml

WRITE_KEY = "test-write-key"


def dump(path: Path) -> list[str]:
    """Every table's rows, as SQL text (a separate connection: what is on disk and in the WAL)."""
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


def cli(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(path: Path, lines: list[dict[str, object]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


def segment_toml(name: str, url: str, **extra: object) -> str:
    filters = extra.pop("filters", None)
    lines = [
        "[[destinations]]",
        f'name = "{name}"',
        'kind = "segment"',
        f'write_key = "{WRITE_KEY}"',
    ]
    lines += [f'endpoint = "{url}"', "reclaim = true"]
    lines += [f"{k} = {orjson.dumps(v).decode()}" for k, v in extra.items()]
    if filters:
        lines.append("[destinations.filters]")
        lines += [f"{k} = {orjson.dumps(v).decode()}" for k, v in filters.items()]
    return "\n".join(lines) + "\n"


def assert_counts_match(plan: DryRunPlan, result: RunResult) -> None:
    """What the dry run said the run would do is what it did (a receiver accepting all)."""
    c = result.counts
    assert plan.halted is None and plan.complete
    assert c.delivered == plan.would_send, (plan, c)
    assert c.added == plan.new_rows + plan.refused
    assert c.rejected == plan.refused
    assert c.filtered == plan.filtered
    assert c.suppressed == plan.suppressed + plan.suppressed_on_leave
    assert c.skipped == plan.skipped


def contacts_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    return write(path, "email,address_state\n" + "".join(f"{e},{s}\n" for e, s in rows))


async def test_segment_dry_run_sends_nothing_writes_nothing_and_counts_the_next_run(
    tmp_path: Path, store: Store
) -> None:
    sandbox = SegmentSandbox(write_keys={WRITE_KEY})
    with SandboxServer(sandbox, port=0) as server:
        import_contacts(store, contacts_csv(tmp_path / "c1.csv", [("a@x.com", "CA")]))
        apply_config(
            store,
            write(
                tmp_path / "d.toml",
                segment_toml("seg", server.url, reclaim_events=["Add To Cart Reclaim"])
                + segment_toml("seg-ca", server.url, filters={"states": ["CA"]}),
            ),
        )
        await run_all(store, Trigger.RUN_ONCE, FAST)  # a first run: cursors past a@x.com
        sent_before = sandbox.requests
        # New since: contacts (one suppressed, one outside CA, one update) and events.
        import_contacts(
            store,
            contacts_csv(
                tmp_path / "c2.csv",
                [("a@x.com", "TX"), ("b@x.com", "CA"), ("c@x.com", "CA"), ("d@x.com", "NY")],
            ),
        )
        import_suppressions(store, write(tmp_path / "k.csv", "email\nc@x.com\n"))
        import_events(store, jsonl(tmp_path / "e.jsonl", [event_line(i) for i in range(5)]))
        before = dump(store.path)  # type: ignore[arg-type]

        plans = {plan.destination: plan for plan in dry_run_all(store, show=2)}

        assert sandbox.requests == sent_before
        assert dump(store.path) == before  # type: ignore[arg-type]
        seg, seg_ca = plans["seg"], plans["seg-ca"]
        # seg: a (updated), b, d; c suppressed; 2 of 5 events are Add To Cart, 3 skipped.
        assert (seg.new["identify"], seg.new["track"]) == (3, 2)
        assert (seg.suppressed, seg.skipped, seg.filtered) == (1, 3, 0)
        # seg-ca: b only (a moved to TX, d in NY: filtered; c suppressed), every event.
        assert (seg_ca.new["identify"], seg_ca.new["track"]) == (1, 5)
        assert (seg_ca.filtered, seg_ca.suppressed) == (2, 1)
        assert [s.kind for s in seg.samples] == ["identify", "identify"]
        assert orjson.loads(seg.samples[0].body)["traits"]["email"] == "a@x.com"

        results = {r.destination: r for r in await run_all(store, Trigger.RUN_ONCE, FAST)}
        assert_counts_match(seg, results["seg"])
        assert_counts_match(seg_ca, results["seg-ca"])
        # Nothing left: a dry run now plans nothing.
        assert all(p.would_send == 0 for p in dry_run_all(store))


async def test_rows_queued_for_a_retry_are_counted_due_or_later(
    tmp_path: Path, store: Store
) -> None:
    """Rows a failed run left queued: due ones are sent first by the next run; the dry run
    counts them, and a suppression imported since books them suppressed instead."""
    sandbox = SegmentSandbox(write_keys={WRITE_KEY})
    with SandboxServer(sandbox, port=0) as server:
        import_contacts(
            store, contacts_csv(tmp_path / "c.csv", [("a@x.com", "CA"), ("b@x.com", "CA")])
        )
        apply_config(store, write(tmp_path / "d.toml", segment_toml("seg", server.url)))
        sandbox.faults.error_rate = 1.0
        options = EngineOptions(policy=FAST.policy, max_wait_seconds=0, timeout_seconds=5)
        failed = (await run_all(store, Trigger.RUN_ONCE, options))[0]
        assert failed.queued == 2
        sandbox.faults.error_rate = 0.0
        time.sleep(0.1)  # past the first retry's backoff (FAST: a few milliseconds)
        import_suppressions(store, write(tmp_path / "k.csv", "email\nb@x.com\n"))
        with store.read() as conn:
            record = get_destination(conn, "seg")
        assert record is not None
        sent_before, before = sandbox.requests, dump(store.path)  # type: ignore[arg-type]

        plan = dry_run(store, record, show=5)

        assert sandbox.requests == sent_before and dump(store.path) == before  # type: ignore[arg-type]
        assert (plan.due, plan.later, plan.new_rows, plan.suppressed_on_leave) == (2, 0, 0, 1)
        assert [s.email for s in plan.samples] == ["a@x.com"]
        result = await run_destination(store, record, Trigger.RUN_ONCE, FAST)
        assert_counts_match(plan, result)


async def test_webhook_dry_run_counts_local_refusals_and_skips(
    tmp_path: Path, store: Store
) -> None:
    receiver = WebhookSandbox(secret=SECRET)
    with SandboxServer(receiver, port=0) as server:
        events = [event_line(i) for i in range(6)]
        events[2]["email"] = None  # a local failure: a webhook event needs an email
        import_events(store, jsonl(tmp_path / "e.jsonl", events))
        apply_config(
            store,
            write(
                tmp_path / "d.toml",
                webhook_toml(f"{server.url}/hook", reclaim_events=["Add To Cart Reclaim"]),
            ),
        )
        with store.read() as conn:
            record = get_destination(conn, "hook")
        assert record is not None
        before = dump(store.path)  # type: ignore[arg-type]

        plan = dry_run(store, record, show=3)

        assert receiver.requests == 0 and dump(store.path) == before  # type: ignore[arg-type]
        assert (plan.new_rows, plan.refused, plan.skipped) == (3, 0, 3)
        assert SECRET not in "".join(s.body for s in plan.samples)
        result = await run_destination(store, record, Trigger.RUN_ONCE, FAST)
        assert_counts_match(plan, result)
        assert receiver.requests == plan.would_send


def test_cli_dry_run_prints_the_plan_masks_keys_and_exits_by_its_rules(
    tmp_path: Path, segment_sandbox: tuple[SegmentSandbox, str]
) -> None:
    sandbox, url = segment_sandbox
    db = tmp_path / "console.db"
    contacts = contacts_csv(tmp_path / "c.csv", [("a@x.com", "CA"), ("b@x.com", "[red]C\x1b[2JA")])
    assert cli("import", "contacts", contacts, "--db", db).exit_code == 0
    config = write(tmp_path / "d.toml", segment_toml("seg", url))
    assert cli("config", "apply", config, "--db", db).exit_code == 0
    before = dump(db)

    done = cli("--run-once", "--dry-run", "--show", "2", "--db", db)

    assert done.exit_code == 0, done.output
    assert sandbox.requests == 0 and dump(db) == before
    lines = done.stdout.splitlines()
    assert lines[0] == "dry run: nothing is sent, queued or moved"
    assert lines[1].startswith("seg (Segment): would send 2 - 2 new; 0 refused locally")
    assert "  sample 1 of 2 · identify · a@x.com" in lines
    # The payload is data: its ESC shows escaped, its markup as typed.
    assert "\x1b" not in done.stdout and "[red]C\\u001b[2JA" in done.stdout
    assert WRITE_KEY not in done.stdout
    assert cli("--run-once", "--dry-run", "--destination", "nope", "--db", db).exit_code == 2
    assert cli("--dry-run", "--db", db).exit_code == 2
    assert cli("--run-once", "--show", "2", "--db", db).exit_code == 2
    unset = write(tmp_path / "u.toml", segment_toml("seg", url).replace(WRITE_KEY, "env:NOPE_KEY"))
    assert cli("config", "apply", unset, "--db", db).exit_code == 0
    refused = cli("--run-once", "--dry-run", "--db", db)
    assert refused.exit_code == 2 and "NOPE_KEY is not set" in refused.stdout
    assert sandbox.requests == 0


def _segment_settings(**extra: object) -> object:
    from console.destinations import registry

    return registry.parse_settings("segment", {"write_key": "env:UNSET_PREVIEW_KEY", **extra})


def test_preview_counts_settings_from_the_first_row_without_their_key(
    tmp_path: Path, store: Store
) -> None:
    """The form's counts: every contact from the first, filters and suppression applied; a key
    not set yet (an unset env: variable) does not stop a count; nothing is written."""
    import_contacts(
        store,
        contacts_csv(tmp_path / "c.csv", [("a@x.com", "CA"), ("b@x.com", "CA"), ("c@x.com", "NY")]),
    )
    import_suppressions(store, write(tmp_path / "k.csv", "email\nb@x.com\n"))
    before = dump(store.path)  # type: ignore[arg-type]

    plan = preview(store, "new", _segment_settings(filters={"states": ["CA"]}))

    assert plan.complete and plan.halted is None
    assert (plan.new["identify"], plan.suppressed, plan.filtered) == (1, 1, 1)
    assert preview_line(plan) == (
        "Preview, every row from the first: 1 row (1 identify), 1 suppressed, 1 filtered out, "
        "0 skipped"
    )
    assert dump(store.path) == before  # type: ignore[arg-type]


def test_a_preview_past_its_budget_reads_windows_across_the_stream_and_scales(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """3,000 contacts imported in two batches (the first 1,500 from CA, the rest from NY): a
    count cut short by its budget reads windows spread over the whole stream, so the estimate
    is near the truth (reading only the first rows would say every contact is from CA), and
    the line says it is an estimate."""
    rows = [(f"u{i}@x.com", "CA" if i < 1500 else "NY") for i in range(3000)]
    import_contacts(store, contacts_csv(tmp_path / "c.csv", rows))
    monkeypatch.setattr(sampling, "SAMPLE_ABOVE", 1000)
    monkeypatch.setattr(sampling, "SAMPLE_WINDOW", 100)
    calls = iter(range(1000))
    # The budget runs out after 8 windows, whatever the machine's speed.
    monkeypatch.setattr(DryRunPlan, "out_of_time", lambda self: next(calls) >= 8)

    plan = preview(store, "new", _segment_settings(grow=True, filters={"states": ["CA"]}))

    assert not plan.complete and plan.read == 800 and plan.unread == 2200
    assert 1200 <= plan.new["identify"] <= 1800, plan.new  # truth: 1,500
    assert plan.new["identify"] + plan.filtered == 3000
    assert preview_line(plan).endswith(
        "(estimated from 800 of 3,000 rows: the time budget ran out)"
    )
