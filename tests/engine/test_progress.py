"""A run's progress: the engine tells it after the plan step and after every batch (rows sent
of rows due), `--run-once` draws it on stderr only when stderr is a terminal, and History's
counts follow the plan step as it goes."""

from __future__ import annotations

import asyncio
import io
import os
import pty
import subprocess
from datetime import timedelta
from pathlib import Path

from console.cli.run_output import StderrProgress
from console.core.vocab import Trigger
from console.engine.options import EngineOptions
from console.engine.progress import DELIVERING, RunProgress
from console.engine.retries import RetryPolicy
from console.engine.runner import run_all
from state.db import ENV_DB, open_store
from tests.cli.test_commands import ENTRY_POINT, Sandbox, cli, jsonl, segment_toml, setup_store
from tests.conftest import FROZEN_AT


def test_progress_text_says_sent_of_due_rate_and_time_left() -> None:
    progress = RunProgress("seg", started=FROZEN_AT, phase=DELIVERING, due=20_043, sent=1_854)
    assert progress.text(FROZEN_AT + timedelta(seconds=10)) == (
        "1,854 of 20,043 sent · 185/s · about 1m 38s left"
    )
    assert RunProgress("seg").text() == "planning…"


def test_the_engine_tells_progress_after_planning_and_each_batch(
    tmp_path: Path, segment_sandbox: Sandbox
) -> None:
    _, url = segment_sandbox
    db = tmp_path / "console.db"
    setup_store(tmp_path, db, url, segment_toml("seg", endpoint=url, grow=False))
    events = [
        {
            "type": "track",
            "event": "Order Completed",
            "messageId": f"m-{i}",
            "email": f"u{i}@example.com",
            "timestamp": "2024-04-16T16:54:10.519Z",
            "properties": {},
        }
        for i in range(25)
    ]
    assert cli("import", "events", jsonl(tmp_path / "e.jsonl", events), "--db", db).exit_code == 0
    seen: list[tuple[str, int, int]] = []
    options = EngineOptions(
        policy=RetryPolicy(base_seconds=0.01, max_attempts=2),
        batch_rows=10,
        in_flight=1,
        progress=lambda p: seen.append((p.phase, p.sent, p.due)),
    )
    store = open_store(db)
    try:
        (result,) = asyncio.run(run_all(store, Trigger.MANUAL, options))
    finally:
        store.dispose()
    assert result.status == "ok" and result.counts.delivered == 25
    assert seen[0] == ("planning", 0, 0)
    assert seen[1:] == [
        ("delivering", 0, 25),
        ("delivering", 10, 25),
        ("delivering", 20, 25),
        ("delivering", 25, 25),
    ]


def test_stderr_progress_redraws_one_line_and_clears_it() -> None:
    stream = io.StringIO()
    shown = StderrProgress(stream, width=60)
    shown.update(RunProgress("seg", phase=DELIVERING, due=100, sent=40))
    shown.clear()
    text = stream.getvalue()
    assert text.startswith("\rseg: 40 of 100 sent · ") and text.endswith("\x1b[K\r\x1b[K")
    quiet = io.StringIO()
    StderrProgress(quiet).clear()  # nothing drawn, nothing to clear
    assert quiet.getvalue() == ""


def test_run_once_draws_progress_on_a_terminal_only(
    tmp_path: Path, segment_sandbox: Sandbox
) -> None:
    _, url = segment_sandbox
    db = tmp_path / "console.db"
    setup_store(tmp_path, db, url)
    env = {k: v for k, v in os.environ.items() if k != ENV_DB}
    command = [str(ENTRY_POINT), "--run-once", "--quiet", "--db", str(db)]
    main, other = pty.openpty()
    try:
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=other, env=env, timeout=60)
        os.close(other)
        drawn = b""
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(main)
    assert done.returncode == 0 and done.stdout == b""
    assert b"seg: " in drawn and b" sent" in drawn and drawn.endswith(b"\r\x1b[K")
    # Redirected (cron): not a byte of it.
    piped = subprocess.run(command, capture_output=True, env=env, timeout=60, check=False)
    assert piped.returncode == 0 and piped.stderr == b"" and piped.stdout == b""
