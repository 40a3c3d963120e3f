"""The small protocol every destination adapter speaks.

An adapter turns claimed outbox rows into HTTP requests and classifies each reply per row as
delivered, retryable or permanently failed, quoting the destination's own words. It never
touches the database and never sleeps: the engine owns timing and records outcomes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import Protocol

import httpx
import orjson

from console.core import clock
from console.core.text import printable
from console.destinations.http import UnreadableReply

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
    """The destination refuses every request (a wrong key, a redirect, a wrong URL): the engine
    stops the run, keeps the rows queued and marks the destination unhealthy, instead of
    failing them. `outcomes` are the replies that came back before the halt (a batch accepted
    before the key was revoked): the engine records them, so accepted rows are not sent again."""

    def __init__(
        self,
        message: str,
        http_status: int | None = None,
        outcomes: Sequence[RowOutcome] = (),
        requests: int = 0,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.outcomes: list[RowOutcome] = list(outcomes)
        self.requests = requests


@dataclass(frozen=True, slots=True)
class SendResult:
    outcomes: list[RowOutcome]
    requests: int


class DestinationAdapter(Protocol):
    """What the engine needs from a destination."""

    async def send(self, client: httpx.AsyncClient, rows: Sequence[OutgoingRow]) -> SendResult:
        """Deliver these rows; at most one outcome per row. A row without an outcome was not
        sent (say, after a 429 asked to wait): it stays queued with its attempts unspent.
        Raises DestinationHalted carrying the outcomes that came back before the halt."""
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


def redirect_problem(response: httpx.Response, url: str) -> str | None:
    """Why a 3xx reply is a configuration to fix, or None for any other status. Redirects are
    not followed: the key or a signed body never leaves for another host."""
    status = response.status_code
    if not 300 <= status < 400:
        return None
    where = printable(response.headers.get("Location", "elsewhere"))[:FEEDBACK_LIMIT]
    return (
        f"{url} redirects (HTTP {status}) to {where}; set the destination's URL to the "
        "service's own address"
    )


def halt_on_redirect(response: httpx.Response, url: str) -> None:
    """A 3xx is not a row's fault: the run halts with the rows queued, as for a refused key."""
    problem = redirect_problem(response, url)
    if problem is not None:
        raise DestinationHalted(problem, response.status_code)


async def send_each(
    rows: Sequence[OutgoingRow],
    send_one: Callable[[OutgoingRow], Awaitable[RowOutcome]],
    concurrency: int,
) -> SendResult:
    """One request per row, `concurrency` at a time. On a halt, the rows already on the wire
    finish and keep their outcomes (an event the service took is not sent twice); rows not
    yet sent get none and stay queued. The halt is raised carrying those outcomes."""
    gate = asyncio.Semaphore(concurrency)
    outcomes: list[RowOutcome] = []
    halts: list[DestinationHalted] = []

    async def one(row: OutgoingRow) -> None:
        async with gate:
            if halts:
                return
            try:
                outcomes.append(await send_one(row))
            except DestinationHalted as exc:
                halts.append(exc)

    await asyncio.gather(*(one(row) for row in rows))
    if halts:
        halts[0].outcomes[:0] = outcomes
        halts[0].requests = len(outcomes) + len(halts)
        raise halts[0]
    return SendResult(outcomes, len(outcomes))


def first_line(response: httpx.Response) -> str:
    """The reply's first non-blank line, control characters escaped, or what it was if empty."""
    for line in response.text.splitlines():
        if line.strip():
            return printable(line.strip())[:FEEDBACK_LIMIT]
    return f"an empty reply (HTTP {response.status_code})"


def undocumented_success(
    response: httpx.Response, expected: dict[str, object] | tuple[str, ...]
) -> str | None:
    """None when a 2xx body is what the service documents, else the feedback to retry with.
    `expected` is either fields with their exact values (Segment: `{"success": True}`) or
    field names that must be present (ReSci: `("id",)`). A login page or an empty body is a
    proxy or a wrong host answering, never a delivery."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict):
        if isinstance(expected, dict):
            if all(body.get(k) == v for k, v in expected.items()):
                return None
        elif all(body.get(k) not in (None, "") for k in expected):
            return None
    return f"HTTP {response.status_code} but not the documented reply: {first_line(response)}"


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
    if isinstance(exc, UnreadableReply):
        return str(exc)
    if isinstance(exc, httpx.TimeoutException | asyncio.TimeoutError):
        return f"no reply within the timeout ({type(exc).__name__})"
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect: {exc}" if str(exc) else "could not connect"
    detail = str(exc) or type(exc).__name__
    return f"connection failed: {detail}"[:FEEDBACK_LIMIT]


def is_retryable_status(status: int) -> bool:
    return status == 429 or status >= 500 or status == 408
