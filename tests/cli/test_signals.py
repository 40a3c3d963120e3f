"""SIGINT and SIGTERM end the console and `--run-once` cleanly: the terminal restored (the
alternate screen left, mouse reporting off), the run in flight closed as `interrupted` with its
lease given back, no traceback, exit 130 / 143; quitting during a run is as clean (exit 0);
a console that crashes exits non-zero.

Real processes: the console runs under a pseudo-terminal, so Textual draws for real and the
bytes it writes on the way out are what a terminal would get; the receiver is a Segment
sandbox slowed down so a run is in flight when the signal lands.
"""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import sqlite3
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.sandbox import SegmentSandbox
from tests.reliability.conftest import ROOT, cli_env, seed_segment_store, wait_until

KEY = "test-write-key"  # what the shared `segment_sandbox` fixture accepts
ALT_SCREEN_OFF = b"\x1b[?1049l"
MOUSE_OFF = b"\x1b[?1000l"


def runs(db: Path) -> list[tuple[str, str | None]]:
    """(status, message) of every run, newest first."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute("SELECT status, message FROM sync_runs ORDER BY id DESC").fetchall()
    finally:
        conn.close()


def lease_owner(db: Path) -> str | None:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute("SELECT lease_owner FROM destinations").fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
def slow_store(tmp_path: Path, segment_sandbox: tuple[SegmentSandbox, str]) -> Path:
    """A store of 3,000 events for one Segment destination whose receiver takes a second a
    request: a run stays in flight for a while."""
    sandbox, url = segment_sandbox
    db = tmp_path / "console.db"
    seed_segment_store(db, url, 3_000, write_key=KEY)
    sandbox.faults.update({"delay_seconds": 1.0})
    return db


SLOW = {"RETENTION_CONSOLE_BATCH_ROWS": "100"}  # 30 requests of a second each


# -- --run-once -------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_ends_run_once_with_its_run_closed_as_interrupted(
    slow_store: Path, segment_sandbox: tuple[SegmentSandbox, str], signum: signal.Signals
) -> None:
    sandbox, _ = segment_sandbox
    process = subprocess.Popen(
        [sys.executable, "-m", "console.cli", "--run-once", "--db", str(slow_store)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(SLOW),
        cwd=ROOT,
    )
    try:
        assert wait_until(lambda: sandbox.message_count > 0, 30), "no request reached the sandbox"
        process.send_signal(signum)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 128 + signum, err
    text = err.decode()
    assert "Traceback" not in text
    assert f"interrupted by {signum.name}" in text
    [(status, message)] = runs(slow_store)
    assert status == "interrupted" and message == "the process was stopped"
    assert lease_owner(slow_store) is None  # given back: the next run need not wait
    assert out == b""


# -- the console under a terminal -------------------------------------------------------------


class TerminalConsole:
    """A command (`retention-console ARGS` by default) on a pseudo-terminal of 100x30;
    every byte it writes is kept."""

    def __init__(self, *args: str, command: list[str] | None = None) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        self.master = master
        self.output = bytearray()
        self.process = subprocess.Popen(
            command or [sys.executable, "-m", "console.cli", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=cli_env({"TERM": "xterm-256color", **SLOW}),
            cwd=ROOT,
            start_new_session=True,
        )
        os.close(slave)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.output.extend(chunk)

    def drawn(self, text: bytes, timeout: float = 30) -> bool:
        return wait_until(lambda: text in self.output, timeout, step=0.05)

    def send(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def wait(self, timeout: float = 30) -> int:
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        os.close(self.master)


@pytest.fixture
def terminal() -> Iterator[list[TerminalConsole]]:
    opened: list[TerminalConsole] = []
    yield opened
    for console in opened:
        console.close()


def open_console(opened: list[TerminalConsole], *args: str) -> TerminalConsole:
    console = TerminalConsole(*args)
    opened.append(console)
    assert console.drawn(b"\x1b[?1049h"), bytes(console.output[-2000:])
    assert console.drawn(b"Destinations"), bytes(console.output[-2000:])
    return console


def assert_terminal_restored(console: TerminalConsole) -> None:
    out = bytes(console.output)
    last_on = out.rfind(b"\x1b[?1049h")
    assert out.rfind(ALT_SCREEN_OFF) > last_on, out[-1500:]
    assert out.rfind(MOUSE_OFF) > out.rfind(b"\x1b[?1000h"), out[-1500:]
    assert b"Traceback" not in out, out[-3000:]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_restores_the_terminal_and_closes_the_run_in_flight(
    slow_store: Path,
    segment_sandbox: tuple[SegmentSandbox, str],
    terminal: list[TerminalConsole],
    signum: signal.Signals,
) -> None:
    sandbox, _ = segment_sandbox
    console = open_console(terminal, "--db", str(slow_store))
    # The scheduler starts each destination's first run a few seconds after the console opens.
    assert wait_until(lambda: sandbox.message_count > 0, 30), "no run started"

    console.process.send_signal(signum)

    assert console.wait() == 128 + signum
    assert_terminal_restored(console)
    assert runs(slow_store)[0] == ("interrupted", "the process was stopped")
    assert lease_owner(slow_store) is None


def test_quitting_during_a_run_prints_no_traceback_and_closes_the_run(
    slow_store: Path, segment_sandbox: tuple[SegmentSandbox, str], terminal: list[TerminalConsole]
) -> None:
    sandbox, _ = segment_sandbox
    console = open_console(terminal, "--db", str(slow_store))
    assert wait_until(lambda: sandbox.message_count > 0, 30), "no run started"

    console.send(b"q")  # a run is in flight: the console asks first (issue 14, item 10)
    time.sleep(1.0)
    console.send(b"y")

    assert console.wait() == 0
    assert_terminal_restored(console)
    assert runs(slow_store)[0] == ("interrupted", "the process was stopped")


def test_a_console_that_crashes_exits_non_zero(
    tmp_path: Path, terminal: list[TerminalConsole]
) -> None:
    # A bug in a screen, planted from outside: the console must not exit 0 after it.
    crash = (
        "import sys\n"
        "from console.ui.screens.destinations import DestinationsScreen\n"
        "def broken(self):\n"
        "    raise RuntimeError('a bug in a screen')\n"
        "DestinationsScreen.on_mount = broken\n"
        "from console.cli import main\n"
        "main()\n"
    )
    script = tmp_path / "crash.py"
    script.write_text(crash)
    console = TerminalConsole(command=[sys.executable, str(script), "--db", str(tmp_path / "c.db")])
    terminal.append(console)

    code = console.wait(timeout=60)

    assert code not in (0, None), bytes(console.output[-2000:])
    assert b"a bug in a screen" in console.output
    assert bytes(console.output).rfind(ALT_SCREEN_OFF) > bytes(console.output).rfind(b"\x1b[?1049h")
