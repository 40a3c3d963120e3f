"""The Segment sandbox, driven over real HTTP on 127.0.0.1 (plus the shared server and faults)."""

from __future__ import annotations

import gzip
import http.client
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from console.sandbox import Faults, SandboxServer, SegmentSandbox
from console.sandbox.faults import FaultKind, format_retry_after
from console.sandbox.segment import MAX_BATCH_BYTES, MAX_BATCH_MESSAGES, MAX_MESSAGE_BYTES

WRITE_KEY = "test-write-key"


def identify(n: int, **extra: Any) -> dict[str, Any]:
    """An identify message shaped like the seed's Grow contact payload."""
    message: dict[str, Any] = {
        "type": "identify",
        "messageId": f"api-{n}",
        "anonymousId": f"anon-{n}",
        "traits": {"email": f"user{n}@example.com", "created_at": "2024-04-16T16:54:09.668Z"},
        "context": {"app": {"name": "retention", "version": "1.0"}},
        "timestamp": "2024-04-16T16:54:09.697Z",
    }
    message.update(extra)
    return message


def track(n: int, **extra: Any) -> dict[str, Any]:
    """A track message shaped like the seed's Reclaim payloads."""
    message: dict[str, Any] = {
        "type": "track",
        "messageId": f"api-t{n}",
        "anonymousId": f"anon-{n}",
        "event": "Viewed Product Reclaim",
        "email": f"user{n}@example.com",
        "properties": {"EventSource": "Reclaim", "price": 47},
        "timestamp": "2024-04-16T16:54:23.497Z",
    }
    message.update(extra)
    return message


@pytest.fixture
def sandbox() -> SegmentSandbox:
    return SegmentSandbox(write_keys={WRITE_KEY})


@pytest.fixture
def server(sandbox: SegmentSandbox) -> Iterator[SandboxServer]:
    with SandboxServer(sandbox) as running:
        yield running


@pytest.fixture
def client(server: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, auth=(WRITE_KEY, ""), timeout=5) as c:
        yield c


def post_batch(client: httpx.Client, messages: list[Any], **kwargs: Any) -> httpx.Response:
    return client.post("/v1/batch", json={"batch": messages}, **kwargs)


# -- happy path ---------------------------------------------------------------------------------


def test_batch_accepted_and_recorded(client: httpx.Client, sandbox: SegmentSandbox) -> None:
    response = post_batch(client, [identify(1), track(1)])
    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert response.headers["content-length"] == str(len(response.content))
    assert [m["messageId"] for m in sandbox.received] == ["api-1", "api-t1"]
    assert sandbox.message_ids == {"api-1": 1, "api-t1": 1}
    assert sandbox.requests == 1


def test_server_url_and_keep_alive(server: SandboxServer) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    assert server.port > 0
    # Two requests on one raw connection: the server keeps it open (HTTP/1.1 keep-alive).
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    for n in range(2):
        body = orjson.dumps({"batch": [identify(n)], "writeKey": WRITE_KEY})
        conn.request("POST", "/v1/batch", body, {"Content-Type": "application/json"})
        reply = conn.getresponse()
        assert reply.status == 200
        assert reply.getheader("Content-Length") is not None
        reply.read()
    conn.close()


def test_single_message_endpoints(client: httpx.Client, sandbox: SegmentSandbox) -> None:
    message = track(1)
    del message["type"]
    assert client.post("/v1/track", json=message).status_code == 200
    assert client.post("/v1/identify", json=identify(2)).status_code == 200
    assert [m["type"] for m in sandbox.received] == ["track", "identify"]
    wrong = client.post("/v1/identify", json=track(3))
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "invalid_message"


def test_duplicates_are_visible(client: httpx.Client, sandbox: SegmentSandbox) -> None:
    post_batch(client, [identify(1), identify(2)])
    post_batch(client, [identify(1)])
    assert sandbox.message_ids["api-1"] == 2
    stats = client.get("/_sandbox/stats").json()
    assert stats == {"requests": 2, "messages": 3, "unique_message_ids": 2, "duplicates": 1}


def test_keep_messages_off_still_counts_ids() -> None:
    sandbox = SegmentSandbox(keep_messages=False)
    with SandboxServer(sandbox) as server, httpx.Client(base_url=server.url) as c:
        assert post_batch(c, [identify(1), identify(2)], auth=("any", "")).status_code == 200
    assert sandbox.received == []
    assert sandbox.message_ids == {"api-1": 1, "api-2": 1}


def test_gzip_body_accepted(client: httpx.Client, sandbox: SegmentSandbox) -> None:
    body = gzip.compress(orjson.dumps({"batch": [identify(1)]}))
    response = client.post(
        "/v1/batch",
        content=body,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert response.status_code == 200
    assert sandbox.message_ids == {"api-1": 1}


def test_chunked_body_accepted(client: httpx.Client, sandbox: SegmentSandbox) -> None:
    body = orjson.dumps({"batch": [identify(1), identify(2)]})

    def chunks() -> Iterator[bytes]:
        yield body[:10]
        yield body[10:]

    response = client.post("/v1/batch", content=chunks())
    assert response.status_code == 200
    assert len(sandbox.message_ids) == 2


# -- auth -----------------------------------------------------------------------------------------


def test_missing_key_is_401(server: SandboxServer, sandbox: SegmentSandbox) -> None:
    response = httpx.post(f"{server.url}/v1/batch", json={"batch": [identify(1)]})
    assert response.status_code == 401
    body = response.json()
    assert body["success"] is False
    assert body["code"] == "unauthorized"
    assert "write key" in body["message"]
    assert sandbox.message_ids == {}


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Basic d3Jvbmc6"},  # "wrong:"
        {"Authorization": "Bearer test-write-key"},
        {"Authorization": "Basic !!notbase64"},
    ],
)
def test_bad_key_is_401(server: SandboxServer, headers: dict[str, str]) -> None:
    response = httpx.post(f"{server.url}/v1/batch", json={"batch": [identify(1)]}, headers=headers)
    assert response.status_code == 401


def test_key_without_colon_and_key_in_body(server: SandboxServer) -> None:
    import base64

    token = base64.b64encode(WRITE_KEY.encode()).decode()
    no_colon = httpx.post(
        f"{server.url}/v1/batch",
        json={"batch": [identify(1)]},
        headers={"Authorization": f"Basic {token}"},
    )
    assert no_colon.status_code == 200
    in_body = httpx.post(
        f"{server.url}/v1/batch", json={"batch": [identify(2)], "writeKey": WRITE_KEY}
    )
    assert in_body.status_code == 200
    wrong_in_body = httpx.post(
        f"{server.url}/v1/batch", json={"batch": [identify(3)], "writeKey": "nope"}
    )
    assert wrong_in_body.status_code == 401


def test_any_key_when_unrestricted() -> None:
    with SandboxServer(SegmentSandbox()) as server:
        ok = httpx.post(f"{server.url}/v1/batch", json={"batch": []}, auth=("whatever", ""))
        empty = httpx.post(f"{server.url}/v1/batch", json={"batch": []}, auth=("", ""))
    assert ok.status_code == 200
    assert empty.status_code == 401


# -- limits ---------------------------------------------------------------------------------------


def test_body_over_500kb_is_400(client: httpx.Client, sandbox: SegmentSandbox) -> None:
    padding = "x" * 20_000
    messages = [identify(n, traits={"pad": padding}) for n in range(26)]  # ~520 KB
    body = orjson.dumps({"batch": messages})
    assert len(body) > MAX_BATCH_BYTES
    response = client.post("/v1/batch", content=body)
    assert response.status_code == 400
    assert "batch too large" in response.json()["message"]
    assert sandbox.message_ids == {}


def test_gzip_body_over_limit_when_inflated(client: httpx.Client) -> None:
    body = orjson.dumps({"batch": [identify(1, traits={"pad": "y" * (MAX_BATCH_BYTES + 10)})]})
    response = client.post(
        "/v1/batch", content=gzip.compress(body), headers={"Content-Encoding": "gzip"}
    )
    assert response.status_code == 400
    assert "too large" in response.json()["message"]


def test_invalid_gzip_is_400(client: httpx.Client) -> None:
    response = client.post("/v1/batch", content=b"not gzip", headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400


def test_message_over_32kb_is_400(client: httpx.Client, sandbox: SegmentSandbox) -> None:
    big = identify(2, traits={"pad": "z" * MAX_MESSAGE_BYTES})
    response = post_batch(client, [identify(1), big, identify(3)])
    assert response.status_code == 400
    body = response.json()
    assert body["index"] == 1
    assert "message too large" in body["message"]
    assert sandbox.message_ids == {}


def test_single_message_over_32kb_is_400(client: httpx.Client) -> None:
    response = client.post("/v1/track", json=track(1, properties={"pad": "z" * MAX_MESSAGE_BYTES}))
    assert response.status_code == 400
    assert "too large" in response.json()["message"]


def test_too_many_messages_is_400(client: httpx.Client) -> None:
    tiny = [{"type": "identify", "messageId": str(n), "userId": "u"} for n in range(2501)]
    response = post_batch(client, tiny)
    assert response.status_code == 400
    assert str(MAX_BATCH_MESSAGES) in response.json()["message"]
    assert post_batch(client, tiny[:MAX_BATCH_MESSAGES]).status_code == 200


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"batch": {"a": 1}}', b""])
def test_bad_body_is_400(client: httpx.Client, body: bytes) -> None:
    response = client.post("/v1/batch", content=body)
    assert response.status_code == 400
    assert response.json()["success"] is False


# -- per-message validation ----------------------------------------------------------------------


def _without(message: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k not in keys}


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (_without(identify(9), "messageId"), "messageId is required"),
        (identify(9, messageId=""), "messageId is required"),
        (identify(9, messageId="m" * 100), "messageId must be under 100 characters"),
        (_without(identify(9), "anonymousId"), "identify needs userId or anonymousId"),
        (_without(track(9), "anonymousId"), "track needs userId or anonymousId"),
        (_without(track(9), "event"), "track needs event"),
        (track(9, event=""), "track needs event"),
        (identify(9, type="bogus"), "type must be one of"),
        ("just a string", "message must be a JSON object"),
    ],
)
def test_invalid_message_names_index(
    client: httpx.Client, sandbox: SegmentSandbox, bad: Any, reason: str
) -> None:
    response = post_batch(client, [identify(1), track(1), bad])
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_message"
    assert body["index"] == 2
    assert body["message"].startswith("message 2: ")
    assert reason in body["reason"]
    assert sandbox.message_ids == {}


def test_message_id_of_99_chars_and_user_id_only(client: httpx.Client) -> None:
    message = _without(identify(1, messageId="m" * 99, userId="u-1"), "anonymousId")
    assert post_batch(client, [message]).status_code == 200


# -- reject_emails ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "placement",
    ["traits", "properties", "top", "context"],
)
def test_rejected_email_refuses_whole_batch(
    client: httpx.Client, sandbox: SegmentSandbox, placement: str
) -> None:
    sandbox.faults.update({"reject_emails": ["Bad@Example.com"]})
    bad = track(2)
    email = "BAD@example.com"
    if placement == "traits":
        bad = identify(2, traits={"email": email})
    elif placement == "properties":
        bad["properties"]["email"] = email
        del bad["email"]
    elif placement == "top":
        bad["email"] = email
    else:
        bad = identify(2, traits={}, context={"traits": {"email": email}})
    response = post_batch(client, [identify(1), bad, identify(3)])
    assert response.status_code == 400
    body = response.json()
    assert body == {
        "success": False,
        "code": "rejected",
        "message": "rejected: bad@example.com is on the sandbox's reject list",
        "email": "bad@example.com",
        "index": 1,
    }
    assert sandbox.message_ids == {}
    assert sandbox.received == []
    # Splitting the batch delivers the good rows.
    assert post_batch(client, [identify(1)]).status_code == 200
    assert post_batch(client, [identify(3)]).status_code == 200
    assert post_batch(client, [bad]).status_code == 400
    assert set(sandbox.message_ids) == {"api-1", "api-3"}


# -- faults ---------------------------------------------------------------------------------------


def _statuses(client: httpx.Client, count: int) -> list[int]:
    return [post_batch(client, [identify(n)]).status_code for n in range(count)]


def test_error_rate_is_seeded_and_records_nothing(
    client: httpx.Client, sandbox: SegmentSandbox
) -> None:
    sandbox.faults.update({"error_rate": 0.3, "seed": 7})
    first = _statuses(client, 60)
    errors = [s for s in first if s != 200]
    assert set(errors) <= {500, 503}
    assert 6 <= len(errors) <= 36
    assert len(sandbox.message_ids) == first.count(200)
    client.post("/_sandbox/reset")
    assert _statuses(client, 60) == first  # same seed, same sequence


def test_5xx_body_shape(client: httpx.Client, sandbox: SegmentSandbox) -> None:
    sandbox.faults.update({"error_rate": 1.0})
    response = post_batch(client, [identify(1)])
    assert response.status_code in (500, 503)
    body = response.json()
    assert body["success"] is False
    assert body["code"] == "server_error"
    assert body["message"]


@pytest.mark.parametrize(("seconds", "header"), [(2, "2"), (1.5, "1.5"), (0.0, "0")])
def test_rate_limit_every_nth(
    client: httpx.Client, sandbox: SegmentSandbox, seconds: float, header: str
) -> None:
    sandbox.faults.update({"rate_limit_every": 2, "retry_after_seconds": seconds})
    first = post_batch(client, [identify(1)])
    second = post_batch(client, [identify(2)])
    assert first.status_code == 200
    assert second.status_code == 429
    assert second.headers["Retry-After"] == header
    assert second.json()["code"] == "rate_limited"
    assert sandbox.message_ids == {"api-1": 1}


def test_delay(client: httpx.Client, sandbox: SegmentSandbox) -> None:
    sandbox.faults.update({"delay_seconds": 0.2})
    started = time.perf_counter()
    assert post_batch(client, [identify(1)]).status_code == 200
    assert time.perf_counter() - started >= 0.2
    # Control endpoints are never delayed.
    started = time.perf_counter()
    client.get("/_sandbox/stats")
    assert time.perf_counter() - started < 0.2


def test_reset_mid_reply_raises_and_duplicates(
    client: httpx.Client, sandbox: SegmentSandbox
) -> None:
    sandbox.faults.update({"reset_every": 2})
    assert post_batch(client, [identify(1)]).status_code == 200
    with pytest.raises(httpx.TransportError):
        post_batch(client, [identify(2)])
    # The batch was processed before the reply was lost; the client's re-send is a duplicate.
    assert post_batch(client, [identify(2)]).status_code == 200
    assert sandbox.message_ids["api-2"] == 2
    assert client.get("/_sandbox/stats").json()["duplicates"] == 1


def test_malformed_reply(client: httpx.Client, sandbox: SegmentSandbox) -> None:
    sandbox.faults.update({"malformed_every": 1})
    response = post_batch(client, [identify(1)])
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()
    assert sandbox.message_ids == {"api-1": 1}


# -- control endpoints ---------------------------------------------------------------------------


def test_control_endpoints(client: httpx.Client, sandbox: SegmentSandbox) -> None:
    post_batch(client, [identify(1), track(1)])
    anonymous = httpx.Client(base_url=str(client.base_url))  # control needs no auth
    assert [m["messageId"] for m in anonymous.get("/_sandbox/messages").json()] == [
        "api-1",
        "api-t1",
    ]
    assert anonymous.get("/_sandbox/message_ids").json() == {"api-1": 1, "api-t1": 1}
    stats = anonymous.get("/_sandbox/stats").json()
    assert stats == {"requests": 1, "messages": 2, "unique_message_ids": 2, "duplicates": 0}

    updated = anonymous.post(
        "/_sandbox/faults", json={"rate_limit_every": 3, "reject_emails": ["A@B.co"]}
    )
    assert updated.status_code == 200
    assert updated.json()["reject_emails"] == ["a@b.co"]
    assert sandbox.faults.rate_limit_every == 3
    assert anonymous.get("/_sandbox/faults").json()["rate_limit_every"] == 3

    bad = anonymous.post("/_sandbox/faults", json={"error_rate": 2, "delay_seconds": 1})
    assert bad.status_code == 400
    assert sandbox.faults.delay_seconds == 0  # nothing applied from a bad request
    assert anonymous.post("/_sandbox/faults", json={"nope": 1}).status_code == 400
    assert anonymous.post("/_sandbox/faults", content=b"[]").status_code == 400

    assert anonymous.post("/_sandbox/reset").json() == {"reset": True}
    assert sandbox.received == []
    assert anonymous.get("/_sandbox/stats").json()["requests"] == 0
    assert sandbox.faults.rate_limit_every == 3  # faults survive a plain reset
    anonymous.post("/_sandbox/reset", json={"faults": True})
    assert sandbox.faults == Faults()
    assert anonymous.get("/_sandbox/nothing").status_code == 404
    anonymous.close()


def test_unknown_path_and_method(client: httpx.Client) -> None:
    assert client.post("/v2/batch", json={}).status_code == 404
    assert client.get("/v1/batch").status_code == 405


def test_stopped_server_refuses(sandbox: SegmentSandbox) -> None:
    server = SandboxServer(sandbox).start()
    url = server.url
    with httpx.Client(base_url=url, auth=(WRITE_KEY, "")) as c:
        assert post_batch(c, [identify(1)]).status_code == 200
        server.stop()
        with pytest.raises(httpx.TransportError):
            post_batch(c, [identify(2)])
    server.stop()  # idempotent
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", server.port), timeout=1):
        pass


def test_server_binds_loopback_only(sandbox: SegmentSandbox) -> None:
    with pytest.raises(ValueError):
        SandboxServer(sandbox, host="0.0.0.0")


# -- Faults unit behaviour ------------------------------------------------------------------------


def test_fault_precedence_and_determinism() -> None:
    faults = Faults(reset_every=6, rate_limit_every=3, malformed_every=2, delay_seconds=0.5)
    kinds = [faults.decide(n).kind for n in range(1, 7)]
    assert kinds == [
        FaultKind.NONE,
        FaultKind.MALFORMED,
        FaultKind.RATE_LIMIT,
        FaultKind.MALFORMED,
        FaultKind.NONE,
        FaultKind.RESET,
    ]
    assert faults.decide(7).delay_seconds == 0.5
    a = Faults(error_rate=0.5, seed=3)
    b = Faults(error_rate=0.5, seed=3)
    assert [a.decide(n) for n in range(1, 50)] == [b.decide(n) for n in range(1, 50)]


def test_faults_validation_and_helpers() -> None:
    faults = Faults(reject_emails={" X@Y.com "})
    assert faults.is_rejected("x@y.COM")
    assert not faults.is_rejected(None)
    for bad in (
        {"error_rate": -0.1},
        {"error_rate": True},
        {"rate_limit_every": 1.5},
        {"reset_every": -1},
        {"reject_emails": "a@b.co"},
        {"reject_emails": [1]},
        {"delay_seconds": float("nan")},
    ):
        with pytest.raises(ValueError):
            faults.update(bad)
    assert Faults.from_dict({"seed": 5, "error_rate": 0.25}).to_dict()["seed"] == 5
    assert format_retry_after(3.0) == "3"
    assert format_retry_after(0.25) == "0.25"
