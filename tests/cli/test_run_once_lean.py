"""`--run-once` never loads Textual: cron's run must not pay for the UI, nor break when the UI's
dependencies are broken. Checked in a fresh interpreter that delivers a small store to a sandbox
and then lists what it imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
from click.testing import CliRunner

from console.cli import main
from console.sandbox import SegmentSandbox
from state.db import ENV_DB

WRITE_KEY = "test-write-key"  # what the shared `segment_sandbox` fixture accepts

# Runs `retention-console ARGS` in-process (argv after `-c`), then prints the Textual modules
# loaded by then as the last line of stdout and exits with the command's own code.
PROBE = """
import sys
from console.cli import main

try:
    main(sys.argv[1:])
except SystemExit as done:
    code = done.code
else:
    code = 0
print(sorted(m for m in sys.modules if m == "textual" or m.startswith("textual.")))
sys.exit(code)
"""


def test_run_once_delivers_without_importing_textual(
    tmp_path: Path, segment_sandbox: tuple[SegmentSandbox, str]
) -> None:
    sandbox, url = segment_sandbox
    db = tmp_path / "console.db"
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("email\na@example.com\nb@example.com\n", encoding="utf-8")
    config = tmp_path / "destinations.toml"
    config.write_text(
        "[[destinations]]\n"
        'name = "seg"\nkind = "segment"\n'
        f"write_key = {orjson.dumps(WRITE_KEY).decode()}\n"
        f"endpoint = {orjson.dumps(url).decode()}\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    for args in (["import", "contacts", str(contacts)], ["config", "apply", str(config)]):
        assert runner.invoke(main, [*args, "--db", str(db)]).exit_code == 0

    env = {k: v for k, v in os.environ.items() if k != ENV_DB}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "--db", str(db), "--run-once", "--max-wait", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    *summary, loaded = done.stdout.splitlines()
    assert summary and summary[0].startswith("seg: ok - 2 delivered"), done.stdout
    assert sandbox.message_count == 2
    assert loaded == "[]", f"--run-once imported Textual: {loaded}"
