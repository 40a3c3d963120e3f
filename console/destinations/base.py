"""The small protocol every destination adapter speaks.

An adapter turns claimed outbox rows into HTTP requests and classifies each reply per row as
delivered, retryable or permanently failed, quoting the destination's own words. It never
touches the database and never sleeps: the engine owns timing and records outcomes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import Protocol

import httpx
import orjson

from console.core import clock

FEEDBACK_LIMIT = 500


@dataclass(frozen=True, slots=True)
class OutgoingRow:
    """One queued outbox row as the adapter sees it."""

    id: int
    kind: str
    message_id: str
    email: str | None
    payload: bytes  # JSON of the message body


class Outcome(Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RowOutcome:
    row_id: int
    outcome: Outcome
    http_status: int | None = None
    feedback: str | None = None
    retry_after: float | None = None  # seconds the destination asked us to wait


class DestinationHalted(Exception):
    """The destination refuses every request (for example a wrong key): the engine stops the
    run, keeps the rows queued and marks the destination unhealthy, instead of failing them."""

    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


@dataclass(frozen=True, slots=True)
class SendResult:
    outcomes: list[RowOutcome]
    requests: int


class DestinationAdapter(Protocol):
    """What the engine needs from a destination."""

    async def send(self, client: httpx.AsyncClient, rows: Sequence[OutgoingRow]) -> SendResult:
        """Deliver these rows; one outcome per row. Raises DestinationHalted."""
        ...

    async def test_connection(self, client: httpx.AsyncClient) -> str:
        """A harmless authenticated call; returns what the destination said, in plain words.
        Raises ConnectionTestFailed with the reason."""
        ...


class ConnectionTestFailed(Exception):
    """Test connection did not prove the key; the message says why in plain words."""


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date), capped at an hour."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - clock.now()).total_seconds()
        except (TypeError, ValueError):
            return None
    return max(0.0, min(seconds, 3600.0))


def reply_feedback(response: httpx.Response) -> str:
    """The destination's own words: the JSON `message` (and `errors`), else the body text."""
    text = response.text.strip()
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict):
        message = body.get("message") or body.get("error") or body.get("code")
        errors = body.get("errors")
        if message and errors:
            text = f"{message}: {orjson.dumps(errors).decode()}"
        elif message:
            text = str(message)
    text = text or f"HTTP {response.status_code} {response.reason_phrase}".strip()
    return text[:FEEDBACK_LIMIT]


def transport_feedback(exc: BaseException) -> str:
    """Plain words for a connection-level failure."""
    if isinstance(exc, httpx.TimeoutException | asyncio.TimeoutError):
        return f"no reply within the timeout ({type(exc).__name__})"
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect: {exc}" if str(exc) else "could not connect"
    detail = str(exc) or type(exc).__name__
    return f"connection failed: {detail}"[:FEEDBACK_LIMIT]


def is_retryable_status(status: int) -> bool:
    return status == 429 or status >= 500 or status == 408
