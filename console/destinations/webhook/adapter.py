"""POST each queued event to the operator's URL, signed, and classify each reply.

One event per request: Retention.com's webhook posts one event at a time, so receivers written
for it work unchanged, and a refusal (a 4xx with the receiver's words) names exactly one event,
with no batch to split. Two requests are on the wire per batch; the engine runs its batches side
by side, so a few connections stay busy without queueing on its connection pool.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import orjson

from console.core import clock
from console.destinations.base import (
    ConnectionTestFailed,
    DestinationHalted,
    Outcome,
    OutgoingRow,
    RowOutcome,
    SendResult,
    halt_on_redirect,
    is_retryable_status,
    parse_retry_after,
    redirect_problem,
    reply_feedback,
    transport_feedback,
)

SIGNATURE_HEADER = "X-Retention-Signature"
REQUESTS_PER_BATCH = 2


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of `f"{timestamp}.{body}"` under the shared secret."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


class WebhookAdapter:
    """Sends outbox rows as one signed POST each."""

    def __init__(
        self,
        url: str,
        secret: str,
        timeout: float | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self._secret = secret
        # Signatures carry the wall clock, not the console's clock: the receiver measures a
        # replay window against its own clock, and the console's may be frozen or set back
        # (snapshots, the demo's history).
        self._now = now
        # None: the engine's client decides (EngineOptions.timeout_seconds).
        self.timeout: Any = httpx.USE_CLIENT_DEFAULT if timeout is None else timeout

    def _headers(self, body: bytes) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "User-Agent": "retention-console/0.1",
            SIGNATURE_HEADER: signature_header(self._secret, int(self._now()), body),
        }

    async def _post(self, client: httpx.AsyncClient, body: bytes) -> httpx.Response:
        return await client.post(
            self.url, content=body, headers=self._headers(body), timeout=self.timeout
        )

    async def send(self, client: httpx.AsyncClient, rows: Sequence[OutgoingRow]) -> SendResult:
        """One outcome per row sent. After a 429 with `Retry-After` no further row of the batch
        is sent: those rows get no outcome, so they stay queued with their attempts unspent,
        and the engine holds the destination for the time asked (as after Segment's 429)."""
        outcomes: list[RowOutcome] = []
        pending = iter(rows)
        raised: list[Exception] = []
        requests = 0
        stop = False

        async def worker() -> None:
            nonlocal requests, stop
            for row in pending:  # one shared iterator: each row is taken by one worker
                if stop:
                    return  # taken but not sent: no outcome, the row stays queued untouched
                requests += 1
                try:
                    outcome = await self._send_one(client, row)
                except Exception as exc:  # DestinationHalted, or a bug: the other worker stops too
                    raised.append(exc)
                    stop = True
                    return
                outcomes.append(outcome)
                if outcome.retry_after:
                    stop = True

        workers = min(REQUESTS_PER_BATCH, len(rows))
        await asyncio.gather(*(worker() for _ in range(workers)))
        if raised:
            # Rows answered before the halt keep their outcomes (a delivered event is not
            # sent again); the halted row and those not sent stay queued.
            first = raised[0]
            if isinstance(first, DestinationHalted):
                first.outcomes[:0] = outcomes
                first.requests = requests
            raise first
        return SendResult(outcomes, requests)

    async def _send_one(self, client: httpx.AsyncClient, row: OutgoingRow) -> RowOutcome:
        try:
            response = await self._post(client, row.payload)
        except httpx.TransportError as exc:
            return RowOutcome(row.id, Outcome.RETRY, None, transport_feedback(exc))
        status = response.status_code
        if 200 <= status < 300:
            return RowOutcome(row.id, Outcome.DELIVERED, status)
        # A signed body re-posted elsewhere is a configuration to fix, not done silently.
        halt_on_redirect(response, self.url)
        feedback = reply_feedback(response)
        if status in (401, 403):
            raise DestinationHalted(f"the receiver refused the signature: {feedback}", status)
        if status in (404, 405):
            # The URL is wrong, not the event: failing every event one by one would bury the
            # cause. Keep them queued until the URL is fixed.
            raise DestinationHalted(f"{self.url} is not a webhook receiver: {feedback}", status)
        if is_retryable_status(status):
            wait = parse_retry_after(response.headers.get("Retry-After"))
            return RowOutcome(row.id, Outcome.RETRY, status, feedback, wait)
        return RowOutcome(row.id, Outcome.FAILED, status, feedback)

    async def test_connection(self, client: httpx.AsyncClient) -> str:
        """A signed `ping` (`event_type` "ping", `test` true, no email): a receiver verifies its
        signature and answers 2xx without recording it."""
        moment = int(self._now())
        body = orjson.dumps(
            {
                "id": f"rc-ping-{moment}",
                "event_type": "ping",
                "occurred_at": clock.now_iso(),
                "properties": {},
                "test": True,
            }
        )
        try:
            response = await self._post(client, body)
        except httpx.TransportError as exc:
            raise ConnectionTestFailed(transport_feedback(exc)) from exc
        status = response.status_code
        if problem := redirect_problem(response, self.url):
            raise ConnectionTestFailed(problem)
        if status in (401, 403):
            raise ConnectionTestFailed(f"the signature was refused: {reply_feedback(response)}")
        if not 200 <= status < 300:
            raise ConnectionTestFailed(f"HTTP {status}: {reply_feedback(response)}")
        return f"the receiver accepted a signed ping (HTTP {status})"
