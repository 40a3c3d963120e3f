"""Segment HTTP Tracking API: Grow contacts as `identify`, Reclaim events as `track`.

Payload shapes follow the Retention.com Segment guide (shared/seeds/002); batch limits follow
Segment's documentation: 32 KB a message, 500 KB and 2,500 messages a batch request.
Segment answers 200 even for messages it later drops, so `message_problem` validates locally,
before anything is queued.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from typing import Any

import httpx
import orjson

from console.core import clock
from console.core.identity import email_md5
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
    undocumented_success,
)

# Segment documents `200 {"success": true}`: any other 2xx (a proxy's login page, an empty
# body) is not Segment having taken the batch.
SUCCESS_BODY: dict[str, object] = {"success": True}

MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_BATCH_MESSAGES = 2500
MAX_MESSAGE_ID = 99
# Room for `{"batch":[...],"sentAt":"..."}` around the messages.
_ENVELOPE_BYTES = 64

CONTEXT: dict[str, Any] = {
    "app": {"name": "retention", "version": "1.0"},
    "library": {"name": "unknown", "version": "unknown"},
}

GROW_TRAITS: tuple[str, ...] = (
    "address_city",
    "address_line_1",
    "address_postal",
    "address_state",
    "clicked_at",
    "created_at",
    "email",
    "email_domain",
    "extra_data",
    "first_name",
    "id",
    "landing_page_domain",
    "landing_page_url",
    "last_name",
    "page_title",
    "referrer",
    "updated_at",
)


def stable_message_id(*parts: str) -> str:
    """`rc-` and 40 hex characters: the same parts always give the same id."""
    return "rc-" + hashlib.sha1("\x1f".join(parts).encode()).hexdigest()


def identify_message(contact: dict[str, Any], group_id: str | None) -> dict[str, Any]:
    """The seed's Grow contact payload for one contact row (a mapping of `contacts` columns)."""
    traits = {name: contact.get(name) for name in GROW_TRAITS}
    if contact.get("extra_data"):
        try:
            traits["extra_data"] = orjson.loads(contact["extra_data"])
        except orjson.JSONDecodeError:
            traits["extra_data"] = contact["extra_data"]
    context = CONTEXT
    if group_id:
        traits["group_id"] = group_id
        context = {**CONTEXT, "groupId": group_id}
    moment = contact.get("updated_at") or contact.get("created_at") or clock.now_iso()
    return {
        "anonymousId": contact.get("anonymous_id") or email_md5(contact["email"]),
        "context": context,
        "integrations": {},
        # `seq` marks the version: a contact changed back to earlier content (A, B, A) is a new
        # version Segment must receive, not a duplicate of the first one it would drop.
        "messageId": stable_message_id(
            "identify",
            contact["email"],
            contact["content_hash"],
            str(contact.get("seq") or ""),
            group_id or "",
        ),
        "originalTimestamp": moment,
        "timestamp": moment,
        "traits": traits,
        "type": "identify",
    }


def revenue_of(properties: dict[str, Any], metric: str | None) -> float | None:
    """The revenue an event carries in the operator's chosen property (`$47` and `47` alike)."""
    if not metric or metric not in properties:
        return None
    value = properties[metric]
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        cleaned = value.strip().lstrip("$€£").replace(",", "")
        try:
            return float(cleaned)
        except ValueError:
            return None
    return None


def track_message(event: dict[str, Any], revenue_metric: str | None) -> dict[str, Any]:
    """The seed's Reclaim event payload for one `events` row."""
    properties = orjson.loads(event["properties"])
    revenue = revenue_of(properties, revenue_metric)
    if revenue is not None:
        properties["revenue"] = revenue
    email = event.get("email")
    message: dict[str, Any] = {
        "anonymousId": event.get("anonymous_id") or (email_md5(email) if email else None),
        "context": CONTEXT,
    }
    if email:
        message["email"] = email
    message.update(
        {
            "event": event["event"],
            "integrations": {},
            "messageId": event["message_id"],
            "originalTimestamp": event.get("original_timestamp") or event["timestamp"],
            "properties": properties,
            "timestamp": event["timestamp"],
            "type": "track",
        }
    )
    if event.get("user_id"):
        message["userId"] = event["user_id"]
    if message["anonymousId"] is None:
        del message["anonymousId"]
    return message


def message_problem(message: dict[str, Any], encoded: bytes) -> str | None:
    """Why Segment would refuse or silently drop this message, or None when it is fine."""
    if len(encoded) > MAX_MESSAGE_BYTES:
        return (
            f"message is {len(encoded) / 1024:.1f} KB, over Segment's 32 KB limit for one message"
        )
    message_id = message.get("messageId")
    if not message_id or len(message_id) > MAX_MESSAGE_ID:
        return "messageId must be 1 to 99 characters"
    if not message.get("userId") and not message.get("anonymousId"):
        return "Segment drops messages without userId or anonymousId"
    if message.get("type") == "track" and not message.get("event"):
        return "Segment drops a track without an event name"
    return None


def write_key_header(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def split_into_requests(rows: Sequence[OutgoingRow]) -> list[list[OutgoingRow]]:
    """Group rows in order into request bodies within Segment's batch size and count limits."""
    groups: list[list[OutgoingRow]] = []
    current: list[OutgoingRow] = []
    size = _ENVELOPE_BYTES
    for row in rows:
        grows = len(row.payload) + 1
        if current and (size + grows > MAX_BATCH_BYTES or len(current) >= MAX_BATCH_MESSAGES):
            groups.append(current)
            current, size = [], _ENVELOPE_BYTES
        current.append(row)
        size += grows
    if current:
        groups.append(current)
    return groups


def batch_body(rows: Sequence[OutgoingRow]) -> bytes:
    # Payloads are stored as JSON already: joining bytes avoids re-encoding every message.
    sent_at = orjson.dumps(clock.now_iso())
    return b'{"batch":[' + b",".join(r.payload for r in rows) + b'],"sentAt":' + sent_at + b"}"


class SegmentAdapter:
    """Sends outbox rows to `POST /v1/batch`, splitting a refused batch until bad rows stand alone."""

    def __init__(self, endpoint: str, write_key: str, timeout: float | None = None) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._headers = {
            "Authorization": write_key_header(write_key),
            "Content-Type": "application/json",
            "User-Agent": "retention-console/0.1",
        }
        # None: the engine's client decides (EngineOptions.timeout_seconds).
        self.timeout: Any = httpx.USE_CLIENT_DEFAULT if timeout is None else timeout

    async def send(self, client: httpx.AsyncClient, rows: Sequence[OutgoingRow]) -> SendResult:
        outcomes: list[RowOutcome] = []
        requests = 0
        try:
            for group in split_into_requests(rows):
                requests += await self._send_group(client, group, outcomes)
        except DestinationHalted as exc:
            # Groups (or halves) Segment answered before the halt keep their outcomes.
            exc.outcomes[:0] = outcomes
            exc.requests += requests + 1
            raise
        return SendResult(outcomes, requests)

    async def _send_group(
        self, client: httpx.AsyncClient, rows: Sequence[OutgoingRow], outcomes: list[RowOutcome]
    ) -> int:
        try:
            response = await client.post(
                f"{self.endpoint}/v1/batch",
                content=batch_body(rows),
                headers=self._headers,
                timeout=self.timeout,
            )
        except httpx.TransportError as exc:
            feedback = transport_feedback(exc)
            outcomes.extend(RowOutcome(r.id, Outcome.RETRY, None, feedback) for r in rows)
            return 1
        status = response.status_code
        if 200 <= status < 300:
            problem = undocumented_success(response, SUCCESS_BODY)
            outcome = Outcome.DELIVERED if problem is None else Outcome.RETRY
            outcomes.extend(RowOutcome(r.id, outcome, status, problem) for r in rows)
            return 1
        halt_on_redirect(response, f"{self.endpoint}/v1/batch")
        feedback = reply_feedback(response)
        if status in (401, 403):
            raise DestinationHalted(f"Segment refused the write key: {feedback}", status)
        if status in (404, 405):
            # The URL is wrong, not the rows: splitting would fail every row one request at a
            # time. Keep them queued until the endpoint is fixed.
            raise DestinationHalted(
                f"{self.endpoint}/v1/batch is not Segment's batch endpoint: {feedback}", status
            )
        if is_retryable_status(status):
            wait = parse_retry_after(response.headers.get("Retry-After"))
            outcomes.extend(RowOutcome(r.id, Outcome.RETRY, status, feedback, wait) for r in rows)
            return 1
        if len(rows) == 1:
            outcomes.append(RowOutcome(rows[0].id, Outcome.FAILED, status, feedback))
            return 1
        # A refused batch: send each half again so one bad row never fails the good ones.
        middle = len(rows) // 2
        sent = 1
        sent += await self._send_group(client, rows[:middle], outcomes)
        sent += await self._send_group(client, rows[middle:], outcomes)
        return sent

    async def test_connection(self, client: httpx.AsyncClient) -> str:
        """Segment has no read endpoint for a write key; an empty batch is harmless and
        authenticated (Segment accepts it without recording anything)."""
        try:
            response = await client.post(
                f"{self.endpoint}/v1/batch",
                content=b'{"batch":[]}',
                headers=self._headers,
                timeout=self.timeout,
            )
        except httpx.TransportError as exc:
            raise ConnectionTestFailed(transport_feedback(exc)) from exc
        if response.status_code in (401, 403):
            raise ConnectionTestFailed(f"the write key was refused: {reply_feedback(response)}")
        if problem := redirect_problem(response, f"{self.endpoint}/v1/batch"):
            raise ConnectionTestFailed(problem)
        if response.status_code >= 400:
            raise ConnectionTestFailed(f"HTTP {response.status_code}: {reply_feedback(response)}")
        problem = undocumented_success(response, SUCCESS_BODY)
        if problem is not None:
            raise ConnectionTestFailed(f"this is not Segment's reply: {problem}")
        return f"Segment accepted the write key (HTTP {response.status_code})"
