"""Fixtures shared by every test folder: a fresh store, a Segment sandbox on 127.0.0.1, and a
clock frozen at a chosen moment (restored afterwards). Folders may override them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from console.core import clock
from console.sandbox import SandboxServer, SegmentSandbox
from state.db import Store, open_store
from tests import hostile

SANDBOX_WRITE_KEY = "test-write-key"
FROZEN_AT = datetime(2024, 4, 16, 16, 54, 9, 697_000, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh, empty store in the test's temporary directory."""
    opened = open_store(tmp_path / "console.db")
    yield opened
    opened.dispose()


@pytest.fixture
def segment_sandbox() -> Iterator[tuple[SegmentSandbox, str]]:
    """A Segment sandbox accepting `SANDBOX_WRITE_KEY`, served on a free 127.0.0.1 port:
    yields (sandbox, base URL) and stops the server afterwards."""
    sandbox = SegmentSandbox(write_keys={SANDBOX_WRITE_KEY})
    with SandboxServer(sandbox, port=0) as server:
        yield sandbox, server.url


class FrozenClock:
    """The time `console.core.clock` reports while frozen; move it with `set` or `advance`."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment

    def set(self, moment: datetime) -> None:
        self.moment = moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


@pytest.fixture
def frozen_clock() -> Iterator[FrozenClock]:
    """Freeze `console.core.clock` at `FROZEN_AT` (2024-04-16T16:54:09.697Z); the real clock comes
    back after the test."""
    frozen = FrozenClock(FROZEN_AT)
    clock.set_clock(frozen)
    yield frozen
    clock.set_clock(None)


@pytest.fixture
def hostile_url() -> Iterator[str]:
    """The URL of a HostileReceiver on 127.0.0.1 (an ephemeral port)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), hostile.HostileReceiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
