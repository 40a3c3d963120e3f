"""Fixtures of the webhook kind's tests: a receiver (the sandbox's, which verifies signatures on
its own) on a free 127.0.0.1 port, event files, and TOML for `config apply`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from console.sandbox import SandboxServer
from console.sandbox.faults import Faults
from console.sandbox.webhook import WebhookSandbox

SECRET = "whsec-test-0123456789-abcdef"
EVENT_NAMES = ("Viewed Product Reclaim", "Add To Cart Reclaim")


def event_line(index: int, email: str | None = None) -> dict[str, Any]:
    """A Reclaim `track` event as the seed shows them (capitalised and Segment-spec keys)."""
    line: dict[str, Any] = {
        "type": "track",
        "messageId": f"ev-{index:04d}",
        "event": EVENT_NAMES[index % 2],
        "email": email or f"shopper{index}@{'gmail.com' if index % 3 else 'yahoo.com'}",
        "anonymousId": f"anon-{index}",
        "timestamp": f"2024-04-16T16:{index % 60:02d}:09.697Z",
        "properties": {
            "EventSource": "Reclaim",
            "Name": "Berry Compote",
            "Price": "64",
            "ProductID": 4891833341 + index,
            "URL": f"https://shop.example/p/{index}",
            "ImageURL": "https://shop.example/i.png",
            "Quantity": 1 + index % 2,
        },
    }
    return line


def write_events(path: Path, count: int) -> Path:
    path.write_bytes(b"".join(orjson.dumps(event_line(i)) + b"\n" for i in range(count)))
    return path


def webhook_toml(url: str, name: str = "hook", secret: str = SECRET, **extra: Any) -> str:
    """One webhook destination as `config apply` reads it."""
    filters = extra.pop("filters", None)
    lines = [
        "[[destinations]]",
        f'name = "{name}"',
        'kind = "webhook"',
        f'url = "{url}"',
        f'secret = "{secret}"',
        "reclaim = true",
    ]
    lines += [f"{key} = {orjson.dumps(value).decode()}" for key, value in extra.items()]
    if filters:
        lines.append("[destinations.filters]")
        lines += [f"{k} = {orjson.dumps(v).decode()}" for k, v in filters.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def faults() -> Faults:
    return Faults()


@pytest.fixture
def receiver(faults: Faults) -> Iterator[tuple[WebhookSandbox, str]]:
    """(receiver, URL of its hook path) on a free 127.0.0.1 port."""
    sandbox = WebhookSandbox(secret=SECRET, faults=faults)
    with SandboxServer(sandbox, port=0) as server:
        yield sandbox, f"{server.url}/hooks/retention"
