"""A local receiver of the console's signed webhooks, as strict as the signature scheme documents.

It verifies independently of the console's own code (only the documented algorithm: HMAC-SHA256
under the shared secret over ``f"{t}.{body}"``, header ``X-Retention-Signature: t=..,v1=..``):

* 401 ``{"message"}``: the signature header is missing or malformed, its timestamp is more than
  ``tolerance_seconds`` (300) away from the receiver's clock (a replay), or no ``v1`` matches.
  Nothing is recorded.
* 400: the body is not a JSON object in Retention.com's Reclaim shape (``id``, ``email`` with an
  ``@``, ``event_type``, ``occurred_at`` ISO-8601, ``properties`` an object), or its email is on
  ``Faults.reject_emails`` (``rejected: <email> is on the sandbox's reject list``).
* 200 ``{"ok": true}``: recorded. A signed ``ping`` (``event_type`` "ping", ``test`` true) is
  answered 200 and not recorded.
* 405 for another method than POST; 429 / 5xx / resets / malformed replies from
  :mod:`console.sandbox.faults`. Any path is accepted (the operator chooses the URL).

Recorded: ``received`` (bodies in arrival order), ``message_ids`` (id -> times received, so a
re-send shows as 2), ``refused_signatures``. Control endpoints: those of
:class:`~console.sandbox.server.SandboxApp` plus ``GET /_sandbox/messages`` and
``GET /_sandbox/message_ids``.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from console.sandbox.faults import Faults
from console.sandbox.receivers import ReceiverSpec
from console.sandbox.server import Request, Response, SandboxApp, json_response

SIGNATURE_HEADER = "x-retention-signature"
TOLERANCE_SECONDS = 300
DEMO_SECRET = "sandbox-webhook-signing-secret"
"""The secret the sandbox command's receiver verifies with unless told another."""


class WebhookSandbox(SandboxApp):
    """Receiver of signed Reclaim webhooks. See the module docstring for the exact behaviour."""

    name = "webhook"

    def __init__(
        self,
        secret: str = DEMO_SECRET,
        faults: Faults | None = None,
        tolerance_seconds: float = TOLERANCE_SECONDS,
        now: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(faults)
        self.secret = secret.encode()
        self.tolerance_seconds = tolerance_seconds
        self.now = now
        self.received: list[dict[str, Any]] = []
        self.message_ids: collections.Counter[str] = collections.Counter()
        self.refused_signatures = 0

    def reset(self, clear_faults: bool = False) -> None:
        with self.lock:
            super().reset(clear_faults)
            self.received = []
            self.message_ids = collections.Counter()
            self.refused_signatures = 0

    def stats(self) -> dict[str, Any]:
        unique = len(self.message_ids)
        return {
            "requests": self.requests,
            "messages": len(self.received),
            "unique_message_ids": unique,
            "duplicates": len(self.received) - unique,
            "refused_signatures": self.refused_signatures,
        }

    def control(self, request: Request, action: str) -> Response | None:
        if request.method != "GET":
            return None
        with self.lock:
            if action == "messages":
                return json_response(200, list(self.received))
            if action == "message_ids":
                return json_response(200, dict(self.message_ids))
        return None

    def route(self, request: Request) -> Response:
        if request.method != "POST":
            return self.error(405, f"{request.method} not allowed; use POST")
        refusal = self.signature_problem(request.header(SIGNATURE_HEADER), request.body)
        if refusal is not None:
            with self.lock:
                self.refused_signatures += 1
            return self.error(401, refusal)
        try:
            data = orjson.loads(request.body)
        except orjson.JSONDecodeError as exc:
            return self.error(400, f"body is not valid JSON: {exc}")
        if not isinstance(data, dict):
            return self.error(400, "body must be a JSON object")
        if data.get("event_type") == "ping" and data.get("test") is True:
            return json_response(200, {"ok": True, "ping": True})
        problem = _body_problem(data)
        if problem is not None:
            return self.error(400, problem)
        if self.faults.is_rejected(data["email"]):
            email = data["email"].strip().lower()
            return self.error(400, f"rejected: {email} is on the sandbox's reject list")
        with self.lock:
            self.received.append(data)
            self.message_ids[data["id"]] += 1
        return json_response(200, {"ok": True})

    def signature_problem(self, header: str, body: bytes) -> str | None:
        """Why the signature does not prove the body came from the secret's holder, or None."""
        if not header:
            return "missing X-Retention-Signature header"
        fields: dict[str, list[str]] = {}
        for part in header.split(","):
            key, sep, value = part.strip().partition("=")
            if sep:
                fields.setdefault(key, []).append(value)
        stamps, signatures = fields.get("t", []), fields.get("v1", [])
        if len(stamps) != 1 or not stamps[0].isdigit() or not signatures:
            return "malformed X-Retention-Signature header: expected t=<unix>,v1=<hex>"
        if abs(self.now() - int(stamps[0])) > self.tolerance_seconds:
            return "signature timestamp outside the 5-minute window (a replay, or a wrong clock)"
        expected = hmac.new(self.secret, stamps[0].encode() + b"." + body, hashlib.sha256)
        digest = expected.hexdigest()
        # Every v1 is compared (a sender rotating its secret may send two), each in constant time.
        if not any(hmac.compare_digest(digest.encode(), v.encode()) for v in signatures):
            return "signature does not match the body"
        return None


def _body_problem(data: dict[str, Any]) -> str | None:
    for name in ("id", "event_type", "occurred_at"):
        if not isinstance(data.get(name), str) or not data[name]:
            return f"{name} is required, as text"
    email = data.get("email")
    if not isinstance(email, str) or "@" not in email:
        return "email is required"
    try:
        datetime.fromisoformat(data["occurred_at"].replace("Z", "+00:00"))
    except ValueError:
        return f"occurred_at {data['occurred_at']!r} is not ISO-8601"
    if not isinstance(data.get("properties"), dict):
        return "properties must be an object"
    return None


RECEIVER = ReceiverSpec(
    kind="webhook",
    label="Webhook",
    build=lambda faults: WebhookSandbox(faults=faults),
    keys=f"signing secret: {DEMO_SECRET}",
    demo_settings=lambda url: {"url": f"{url}/hooks/retention", "secret": DEMO_SECRET},
)
"""How the sandbox command serves this receiver beside Segment and ReSci."""
