"""The on-site tag (`retention-console resci tag`) and the import job list (`resci jobs`)."""

from __future__ import annotations

import re

import orjson
import pytest
from click.testing import CliRunner
from sqlalchemy import update

from console.cli import main
from console.destinations.resci.settings import ResciSettings
from console.destinations.resci.tag import js_string, onsite_tag
from state.models import ImportJob
from tests.hostile import HOSTILE, SHOWN
from tests.resci.conftest import Console, Resci, contact, destination_toml

LOADER = "https://d1stxfv94hrhia.cloudfront.net/waves/v3/w.js"


def settings(**values: object) -> ResciSettings:
    base: dict[str, object] = {"api_key": "k", "site_id": "4242", "on_site": True}
    base.update(values)
    return ResciSettings.model_validate(base)


def pushes(tag: str) -> list[str]:
    """The `_rsq.push(...)` lines that run (not the commented examples), in order."""
    return [line.strip() for line in tag.splitlines() if line.strip().startswith("_rsq.push(")]


def test_tag_has_site_id_on_site_mapped_events_track_last_and_the_loader() -> None:
    tag = onsite_tag(
        settings(
            events={
                "Viewed Product Reclaim": "view",
                "Checkout Started Reclaim": "checkout_success",
            }
        ),
        "resci-main",
    )
    assert tag.startswith("<!-- Retention Science on-site tag for resci-main (Site ID 4242)")
    assert "var _rsq = _rsq || [];" in tag
    assert pushes(tag) == [
        "_rsq.push(['_setSiteId', '4242']);",
        "_rsq.push(['_enableOnsite']);",
        "_rsq.push(['_track']);",
    ]
    # One example per mapped event, each with its reserved action, all before _track.
    assert "// Viewed Product Reclaim -> view" in tag
    assert "// _rsq.push(['_setAction', 'view']);" in tag
    assert "// _rsq.push(['_addItem', {'id': 'ITEM_ID'" in tag
    assert "// Checkout Started Reclaim -> checkout_success" in tag
    assert "// _rsq.push(['_setAction', 'checkout_success']);" in tag
    assert "// _rsq.push(['_addOrder', {'id': 'ORDER_ID', 'total': 'ORDER_TOTAL'}]);" in tag
    track_at = tag.index("_rsq.push(['_track'])")
    assert all(m.start() < track_at for m in re.finditer(r"_setAction", tag))
    assert f"rScix.src = '{LOADER}';" in tag
    assert tag.rstrip().endswith("</script>")
    assert tag.count("<script") == 1 and tag.count("</script>") == 1


def test_tag_without_on_site_has_no_enable_onsite() -> None:
    tag = onsite_tag(settings(on_site=False))
    assert "_enableOnsite" not in tag
    assert pushes(tag)[-1] == "_rsq.push(['_track']);"


def test_tag_needs_a_site_id() -> None:
    with pytest.raises(ValueError, match="no Site ID"):
        onsite_tag(settings(site_id=None, on_site=False))


def test_event_names_cannot_break_out_of_the_script() -> None:
    tag = onsite_tag(settings(events={"</script><script>alert(1)</script>\nx": "click"}))
    assert tag.count("</script>") == 1
    assert "\\x3c/script\\x3e" in tag
    assert js_string("it's </b>") == "'it\\'s \\x3c/b\\x3e'"


def test_cli_prints_the_tag_and_refuses_what_has_none(console: Console, resci: Resci) -> None:
    console.apply(destination_toml(resci.url))
    db = str(console.store.path)
    runner = CliRunner()
    ok = runner.invoke(main, ["resci", "tag", "resci-main", "--db", db])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout == onsite_tag(console.destination().settings, "resci-main")  # type: ignore[arg-type]

    missing = runner.invoke(main, ["resci", "tag", "nope", "--db", db])
    assert missing.exit_code == 2
    assert "no destination named 'nope'" in missing.stderr

    segment = console.tmp / "segment.toml"
    segment.write_text(
        '[[destinations]]\nname = "seg"\nkind = "segment"\nwrite_key = "w"\n', encoding="utf-8"
    )
    assert runner.invoke(main, ["config", "apply", str(segment), "--db", db]).exit_code == 0
    wrong_kind = runner.invoke(main, ["resci", "tag", "seg", "--db", db])
    assert wrong_kind.exit_code == 2
    assert "'seg' is a segment destination, not a ReSci one" in wrong_kind.stderr

    no_site = console.tmp / "nosite.toml"
    no_site.write_text(
        '[[destinations]]\nname = "bare"\nkind = "resci"\napi_key = "k"\n', encoding="utf-8"
    )
    assert runner.invoke(main, ["config", "apply", str(no_site), "--db", db]).exit_code == 0
    unsited = runner.invoke(main, ["resci", "tag", "bare", "--db", db])
    assert unsited.exit_code == 2
    assert "no Site ID" in unsited.stderr


async def test_cli_lists_import_jobs_with_their_state(console: Console, resci: Resci) -> None:
    console.contacts([contact(i) for i in range(3)])
    console.apply(destination_toml(resci.url))
    db = str(console.store.path)
    runner = CliRunner()
    empty = runner.invoke(main, ["resci", "jobs", "resci-main", "--db", db])
    assert empty.exit_code == 0 and "no import jobs yet" in empty.stdout
    await console.run()
    listed = runner.invoke(main, ["resci", "jobs", "resci-main", "--db", db])
    assert listed.exit_code == 0, listed.output
    header, row = listed.stdout.splitlines()[:2]
    assert header.split()[:4] == ["job", "remote", "id", "audience"]
    assert row.split()[:6] == ["1", "job_1", "california-gmail", "queued", "3", "0"]
    as_json = runner.invoke(main, ["resci", "jobs", "resci-main", "--json", "--db", db])
    [job] = orjson.loads(as_json.stdout)
    assert (job["status"], job["remote_id"], job["rows"]) == ("queued", "job_1", 3)


async def test_cli_jobs_print_a_hostile_message_escaped(console: Console, resci: Resci) -> None:
    """A job's message holds ReSci's words: `resci jobs` prints its control characters
    escaped, never as raw bytes a terminal would obey."""
    console.contacts([contact(i) for i in range(3)])
    console.apply(destination_toml(resci.url))
    await console.run()
    with console.store.write() as conn:
        conn.execute(update(ImportJob.__table__).values(message=HOSTILE))
    db = str(console.store.path)
    listed = CliRunner().invoke(main, ["resci", "jobs", "resci-main", "--db", db])
    assert listed.exit_code == 0, listed.output
    assert "\x1b" not in listed.stdout and "\x07" not in listed.stdout
    assert f"job 1: {SHOWN}" in listed.stdout
    as_json = CliRunner().invoke(main, ["resci", "jobs", "resci-main", "--json", "--db", db])
    assert "\x1b" not in as_json.stdout
    [job] = orjson.loads(as_json.stdout)
    assert job["message"] == HOSTILE
