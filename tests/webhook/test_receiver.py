"""The sandbox's webhook receiver is strict: it verifies the documented signature itself (401 on
a bad or stale one, nothing recorded), refuses a body not in the documented shape with 400,
answers a signed ping without recording it, counts re-sends, and is served by the sandbox
command beside Segment and ReSci without being named there."""

from __future__ import annotations

import hashlib
import hmac
import io
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from console.sandbox import serve_sandboxes
from console.sandbox.webhook import DEMO_SECRET, WebhookSandbox

from .conftest import SECRET

Receiver = tuple[WebhookSandbox, str]
BODY: dict[str, Any] = {
    "id": "ev-1",
    "email": "ann@example.com",
    "event_type": "Add To Cart Reclaim",
    "occurred_at": "2024-04-16T16:54:32.697Z",
    "properties": {"product_id": "1"},
}


def signed(body: bytes, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    """Headers signed the documented way, written here from the documentation alone."""
    t = str(int(time.time() if at is None else at))
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Retention-Signature": f"t={t},v1={digest}"}


def post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(url, content=body, headers=headers)


def test_a_signed_body_is_recorded_and_a_resend_counted(receiver: Receiver) -> None:
    sandbox, url = receiver
    body = orjson.dumps(BODY)
    for _ in range(2):
        reply = post(url, body, signed(body))
        assert (reply.status_code, reply.json()) == (200, {"ok": True})
    assert sandbox.message_ids["ev-1"] == 2
    stats = httpx.get(url.split("/hooks")[0] + "/_sandbox/stats").json()
    assert (stats["messages"], stats["duplicates"], stats["refused_signatures"]) == (2, 1, 0)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        # Built when the test runs, not when it is collected: a signature's time matters.
        (lambda: {}, "missing X-Retention-Signature"),
        (lambda: {"X-Retention-Signature": "v1=abc"}, "malformed"),
        (lambda: signed(orjson.dumps(BODY), secret="another-secret-0123456789"), "not match"),
        (lambda: signed(orjson.dumps(BODY), at=time.time() - 400), "5-minute window"),
        (lambda: signed(orjson.dumps(BODY), at=time.time() + 400), "5-minute window"),
        (lambda: signed(orjson.dumps({**BODY, "id": "ev-2"})), "does not match"),
    ],
    ids=["missing", "malformed", "wrong-secret", "stale", "future", "other-body"],
)
def test_a_bad_signature_is_refused_401_and_nothing_recorded(
    receiver: Receiver, headers: Callable[[], dict[str, str]], reason: str
) -> None:
    sandbox, url = receiver
    reply = post(url, orjson.dumps(BODY), headers())
    assert reply.status_code == 401 and reason in reply.json()["message"]
    assert sandbox.received == [] and sandbox.refused_signatures == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not valid JSON"),
        (b"[]", "JSON object"),
        (orjson.dumps({**BODY, "email": None}), "email is required"),
        (orjson.dumps({**BODY, "occurred_at": "yesterday"}), "not ISO-8601"),
        (orjson.dumps({**BODY, "properties": []}), "properties must be an object"),
        (orjson.dumps({k: v for k, v in BODY.items() if k != "id"}), "id is required"),
    ],
)
def test_a_body_out_of_shape_is_refused_400(receiver: Receiver, body: bytes, reason: str) -> None:
    sandbox, url = receiver
    reply = post(url, body, signed(body))
    assert reply.status_code == 400 and reason in reply.json()["message"]
    assert sandbox.received == []


def test_a_signed_ping_is_answered_and_not_recorded(receiver: Receiver) -> None:
    sandbox, url = receiver
    body = orjson.dumps({"id": "rc-ping-1", "event_type": "ping", "test": True})
    assert post(url, body, signed(body)).status_code == 200
    assert post(url, body, {}).status_code == 401
    assert httpx.get(url).status_code == 405
    assert sandbox.received == []


def test_faults_apply_before_the_signature_is_checked(receiver: Receiver) -> None:
    sandbox, url = receiver
    sandbox.faults.update({"rate_limit_every": 1, "retry_after_seconds": 2})
    reply = post(url, orjson.dumps(BODY), {})
    assert reply.status_code == 429 and reply.headers["Retry-After"] == "2"


def test_the_sandbox_command_serves_the_receiver_beside_the_others() -> None:
    out = io.StringIO()
    stop = threading.Event()
    ready = threading.Event()
    thread = threading.Thread(
        target=serve_sandboxes,
        args=(0, 0),
        kwargs={"out": out, "stop_event": stop, "on_ready": lambda *_: ready.set()},
        daemon=True,
    )
    thread.start()
    try:
        assert ready.wait(10)
        lines = out.getvalue().splitlines()
        (line,) = [line for line in lines if line.startswith("Webhook sandbox: http://127.0.0.1:")]
        assert f"  signing secret: {DEMO_SECRET}" in lines
        url = line.split(": ", 1)[1] + "/anything"
        body = orjson.dumps(BODY)
        assert post(url, body, signed(body, secret=DEMO_SECRET)).status_code == 200
    finally:
        stop.set()
        thread.join(10)
