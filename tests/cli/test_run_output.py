"""`--run-once --quiet` (nothing on success; one line per destination needing attention, the
reason first) and `--run-once --json` (one object per destination, the fields of
`summary --json` plus state and reason); exit codes as without them."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.cli.test_commands import SUMMARY_KEYS, Sandbox, cli, process, segment_toml, setup_store


def test_quiet_prints_nothing_when_everything_was_delivered(
    tmp_path: Path, segment_sandbox: Sandbox
) -> None:
    sandbox, url = segment_sandbox
    db = tmp_path / "console.db"
    setup_store(tmp_path, db, url)
    done = process("--run-once", "--quiet", "--db", db)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert sandbox.message_count == 2


def seg_rejecting_one_and_seg_tx(tmp_path: Path, segment_sandbox: Sandbox) -> Path:
    """A store with `seg` (whose receiver rejects b@example.com) and `seg-tx` (Texas only,
    which delivers everything it sends)."""
    sandbox, url = segment_sandbox
    sandbox.faults.update({"reject_emails": ["b@example.com"]})
    db = tmp_path / "console.db"
    setup_store(
        tmp_path,
        db,
        url,
        segment_toml("seg", endpoint=url)
        + segment_toml("seg-tx", endpoint=url, filters={"states": ["TX"]}, suppression=False),
    )
    return db


def test_quiet_says_the_reason_first_for_a_destination_that_needs_attention(
    tmp_path: Path, segment_sandbox: Sandbox
) -> None:
    db = seg_rejecting_one_and_seg_tx(tmp_path, segment_sandbox)
    done = cli("--run-once", "--quiet", "--db", db)
    assert done.exit_code == 1
    # seg-tx delivered everything: not a word about it.
    assert done.stdout == "1 row rejected - seg: partial, 1 delivered, 1 rejected\n"


def test_quiet_names_a_refused_key(tmp_path: Path, segment_sandbox: Sandbox) -> None:
    _, url = segment_sandbox
    db = tmp_path / "console.db"
    setup_store(tmp_path, db, url, segment_toml("seg", endpoint=url, write_key="wrong-key"))
    done = cli("--run-once", "--quiet", "--db", db)
    assert done.exit_code == 1
    (line,) = done.stdout.splitlines()
    assert "refused the write key" in line.split(" - seg: failed")[0]


def test_json_is_one_object_per_destination(tmp_path: Path, segment_sandbox: Sandbox) -> None:
    db = seg_rejecting_one_and_seg_tx(tmp_path, segment_sandbox)
    done = process("--run-once", "--json", "--db", db)
    assert done.returncode == 1  # as without --json: a row failed
    items = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert [item["destination"] for item in items] == ["seg", "seg-tx"]
    for item in items:
        assert list(item)[: len(SUMMARY_KEYS)] == SUMMARY_KEYS
        assert {"state", "reason", "run"} <= set(item)
    seg, tx = items
    assert (seg["state"], seg["reason"], seg["completions"], seg["failures"]) == (
        "partial",
        "1 row rejected",
        1,
        1,
    )
    assert (seg["suppressed"], seg["queued"]) == (1, 0)
    assert (tx["state"], tx["reason"], tx["completions"]) == ("ok", None, 1)


def test_quiet_and_json_together_is_a_usage_error(tmp_path: Path) -> None:
    done = cli("--run-once", "--quiet", "--json", "--db", tmp_path / "console.db")
    assert done.exit_code == 2
    assert "--quiet and --json cannot be combined" in done.stderr
