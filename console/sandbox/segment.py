"""A local receiver that speaks Segment's HTTP Tracking API, as strictly as Segment documents it.

Endpoints: ``POST /v1/batch`` (and its alias ``/v1/import``) with ``{"batch": [...]}``, and the
single-message endpoints ``POST /v1/identify``, ``/v1/track``, ``/v1/page``, ``/v1/screen``,
``/v1/group``, ``/v1/alias``. Bodies may be gzip-compressed (``Content-Encoding: gzip``).

Authentication, as Segment documents it: HTTP Basic with the write key as user name and an empty
password (``Basic base64("<key>:")``; the colon may be missing, as Segment tolerates), or a
``writeKey`` field in the JSON body when no ``Authorization`` header is sent.

Replies (every error body has ``success: false``, a ``code`` and a ``message``, which is what
Segment's own libraries read; analytics-python raises ``APIError(status, code, message)``):

* 200 ``{"success": true}``: every message in the request was accepted and recorded.
* 400 ``code="payload_too_large"``: the (decompressed) body is over 500 KiB (512,000 bytes), a
  message serialised as compact JSON is over 32 KiB (32,768 bytes), or a batch has more than
  2,500 messages. Segment documents all three limits.
* 400 ``code="invalid_json"``: the body is not JSON (or not valid gzip).
* 400 ``code="invalid_message"``, with ``index`` and ``reason``: a message fails validation.
  **Deviation from Segment**, on purpose: Segment answers 200 and silently drops a message
  without ``userId``/``anonymousId``, a ``track`` without ``event``, or one with a bad
  ``messageId``. The sandbox refuses the whole request instead, naming the first bad message,
  so that the console's *local* validation (which must catch these before sending) is tested:
  a console that relies on the sandbox to drop such messages fails loudly.
* 400 ``code="rejected"`` with ``email``: a message carries an email on ``Faults.reject_emails``
  (in ``traits.email``, ``properties.email``, top-level ``email`` or ``context.traits.email``).
  The whole request is refused and nothing in it is recorded, so a client must split the
  batch to deliver the good rows. (Segment has no such reply; it stands in for destination
  feedback that names one email.)
* 401 ``code="unauthorized"``: missing or unknown write key. **Deviation**: Segment answers 400
  for an empty key and 200 (dropping the data) for an unknown one; the sandbox is stricter so a
  misconfigured key is visible in tests.
* 429 / 500 / 503 and broken replies: see :mod:`console.sandbox.faults`.

Per message the sandbox requires: a JSON object; ``type`` one of identify, track, page, screen,
group, alias; ``messageId`` a non-empty string under 100 characters; ``userId`` or
``anonymousId`` a non-empty string (alias: ``userId`` and ``previousId``); ``event`` a non-empty
string for ``track``.

Recorded state (read it under ``sandbox.lock`` while a server runs, or via the control
endpoints): ``message_ids`` counts every accepted ``messageId`` (a re-sent message shows as a
count of 2), ``received`` keeps the accepted messages themselves when ``keep_messages`` is true,
``requests`` counts API requests (faulted ones too). Control endpoints (no auth):
``GET /_sandbox/stats`` -> ``{"requests", "messages", "unique_message_ids", "duplicates"}``,
``GET /_sandbox/messages``, ``GET /_sandbox/message_ids``, ``POST /_sandbox/faults``,
``POST /_sandbox/reset``.
"""

from __future__ import annotations

import base64
import binascii
import collections
import zlib
from typing import Any

import orjson

from console.sandbox.faults import Faults
from console.sandbox.server import Request, Response, SandboxApp, json_response

MAX_BATCH_BYTES = 500 * 1024
"""Largest accepted request body (decompressed), in bytes: Segment's "500KB"."""
MAX_MESSAGE_BYTES = 32 * 1024
"""Largest accepted message, serialised as compact JSON, in bytes: Segment's "32KB"."""
MAX_BATCH_MESSAGES = 2500
"""Most messages accepted in one batch request."""
MAX_MESSAGE_ID_CHARS = 99
"""``messageId`` must be under 100 characters."""

MESSAGE_TYPES = frozenset({"identify", "track", "page", "screen", "group", "alias"})
_SINGLE_ENDPOINTS = {f"/v1/{t}": t for t in MESSAGE_TYPES}
_BATCH_ENDPOINTS = frozenset({"/v1/batch", "/v1/import"})
_SUCCESS = b'{"success":true}'


class SegmentSandbox(SandboxApp):
    """Segment HTTP Tracking API receiver. See the module docstring for the exact behaviour."""

    name = "segment"

    def __init__(
        self,
        write_keys: set[str] | None = None,
        faults: Faults | None = None,
        keep_messages: bool = True,
    ) -> None:
        super().__init__(faults)
        self.write_keys: set[str] | None = set(write_keys) if write_keys is not None else None
        """Accepted write keys; None accepts any non-empty key."""
        self.keep_messages = keep_messages
        self.received: list[dict[str, Any]] = []
        """Every accepted message, in arrival order (only when ``keep_messages``)."""
        self.message_ids: collections.Counter[str] = collections.Counter()
        """Every accepted messageId -> times accepted (duplicates visible as counts > 1)."""
        self.message_count: int = 0
        """Accepted messages in total, duplicates included."""
        self.batches: int = 0
        """Requests answered 200 (batch or single)."""

    # -- state ------------------------------------------------------------------------------

    def reset(self, clear_faults: bool = False) -> None:
        """Forget every recorded message and request; keep faults unless ``clear_faults``."""
        with self.lock:
            super().reset(clear_faults)
            self.received = []
            self.message_ids = collections.Counter()
            self.message_count = 0
            self.batches = 0

    def stats(self) -> dict[str, Any]:
        unique = len(self.message_ids)
        return {
            "requests": self.requests,
            "messages": self.message_count,
            "unique_message_ids": unique,
            "duplicates": self.message_count - unique,
        }

    def error_payload(self, status: int, message: str) -> dict[str, Any]:
        code = {
            400: "bad_request",
            401: "unauthorized",
            404: "not_found",
            405: "method_not_allowed",
            429: "rate_limited",
        }.get(status, "server_error")
        return {"success": False, "code": code, "message": message}

    def control(self, request: Request, action: str) -> Response | None:
        if request.method != "GET":
            return None
        if action == "messages":
            with self.lock:
                return json_response(200, list(self.received))
        if action == "message_ids":
            with self.lock:
                return json_response(200, dict(self.message_ids))
        return None

    # -- API --------------------------------------------------------------------------------

    def _fail(self, status: int, code: str, message: str, **extra: Any) -> Response:
        payload: dict[str, Any] = {"success": False, "code": code, "message": message}
        payload.update(extra)
        return json_response(status, payload)

    def route(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        single_type = _SINGLE_ENDPOINTS.get(path)
        if single_type is None and path not in _BATCH_ENDPOINTS:
            return self.error(404, f"no such endpoint: {request.path}")
        if request.method != "POST":
            return self.error(405, f"{request.method} not allowed on {path}; use POST")

        body = request.body
        encoding = request.header("content-encoding").strip().lower()
        limit = MAX_MESSAGE_BYTES if single_type else MAX_BATCH_BYTES
        if encoding == "gzip":
            try:
                # Bounded decompression: a gzip bomb must not eat the test machine's memory.
                inflater = zlib.decompressobj(wbits=31)
                body = inflater.decompress(body, limit + 1)
                if not inflater.eof and len(body) <= limit:
                    raise zlib.error("truncated gzip stream")
            except zlib.error as exc:
                return self._fail(400, "invalid_json", f"body is not valid gzip: {exc}")
        elif encoding not in ("", "identity"):
            return self._fail(400, "bad_request", f"unsupported Content-Encoding: {encoding}")
        if len(body) > limit:
            what = "message" if single_type else "batch"
            return self._fail(
                400,
                "payload_too_large",
                f"{what} too large: body is over {limit} bytes",
            )
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return self._fail(400, "invalid_json", f"body is not valid JSON: {exc}")
        if not isinstance(data, dict):
            return self._fail(400, "invalid_json", "body must be a JSON object")

        key_error = self._check_key(request, data)
        if key_error is not None:
            return self._fail(401, "unauthorized", key_error)

        if single_type is not None:
            declared = data.get("type")
            if declared is None:
                data["type"] = single_type
            elif declared != single_type:
                return self._fail(
                    400,
                    "invalid_message",
                    f"message 0: type {declared!r} posted to /v1/{single_type}",
                    index=0,
                    reason="type does not match endpoint",
                )
            data.pop("writeKey", None)
            messages: list[Any] = [data]
            check_sizes = False  # the whole body already fits in 32 KiB
        else:
            batch = data.get("batch")
            if not isinstance(batch, list):
                return self._fail(400, "bad_request", "body must have a 'batch' array")
            if len(batch) > MAX_BATCH_MESSAGES:
                return self._fail(
                    400,
                    "payload_too_large",
                    f"batch too large: {len(batch)} messages, the limit is {MAX_BATCH_MESSAGES}",
                )
            messages = batch
            # A message can only exceed 32 KiB if the body does; skip serialising otherwise.
            check_sizes = len(body) > MAX_MESSAGE_BYTES

        failure = self._validate(messages, check_sizes)
        if failure is not None:
            return failure

        ids = [m["messageId"] for m in messages]
        with self.lock:
            self.message_ids.update(ids)
            self.message_count += len(ids)
            self.batches += 1
            if self.keep_messages:
                self.received.extend(messages)
        return Response(status=200, body=_SUCCESS)

    def _check_key(self, request: Request, data: dict[str, Any]) -> str | None:
        """None when the request is authenticated, else the reason for the 401."""
        header = request.header("authorization").strip()
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "basic":
                return "Authorization must be HTTP Basic with the write key as user name"
            try:
                decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return "Authorization header is not valid base64"
            key = decoded.partition(":")[0]
        else:
            body_key = data.get("writeKey")
            key = body_key if isinstance(body_key, str) else ""
        if not key:
            return "missing write key (HTTP Basic user name or writeKey in the body)"
        if self.write_keys is not None and key not in self.write_keys:
            return "invalid write key"
        return None

    def _validate(self, messages: list[Any], check_sizes: bool) -> Response | None:
        """One pass over the messages: shape, ids, identities, size and reject list."""
        reject = self.faults.reject_emails  # read once; update() replaces the set object
        dumps = orjson.dumps
        for index, m in enumerate(messages):
            reason = _message_problem(m)
            if reason is None and check_sizes:
                size = len(dumps(m))
                if size > MAX_MESSAGE_BYTES:
                    return self._fail(
                        400,
                        "payload_too_large",
                        f"message {index}: message too large: {size} bytes, "
                        f"the limit is {MAX_MESSAGE_BYTES}",
                        index=index,
                        reason="message too large",
                    )
            if reason is not None:
                return self._fail(
                    400,
                    "invalid_message",
                    f"message {index}: {reason}",
                    index=index,
                    reason=reason,
                )
            if reject:
                email = _rejected_email(m, reject)
                if email is not None:
                    return self._fail(
                        400,
                        "rejected",
                        f"rejected: {email} is on the sandbox's reject list",
                        email=email,
                        index=index,
                    )
        return None


def _message_problem(m: Any) -> str | None:
    """Why message ``m`` is invalid, or None. Kept flat: it runs once per message."""
    if type(m) is not dict:
        return "message must be a JSON object"
    kind = m.get("type")
    if kind not in MESSAGE_TYPES:
        return f"type must be one of {', '.join(sorted(MESSAGE_TYPES))}, not {kind!r}"
    mid = m.get("messageId")
    if type(mid) is not str or not mid:
        return "messageId is required"
    if len(mid) > MAX_MESSAGE_ID_CHARS:
        return f"messageId must be under 100 characters (has {len(mid)})"
    if kind == "alias":
        if not _is_id(m.get("userId")) or not _is_id(m.get("previousId")):
            return "alias needs userId and previousId"
        return None
    if not _is_id(m.get("userId")) and not _is_id(m.get("anonymousId")):
        return f"{kind} needs userId or anonymousId"
    if kind == "track":
        event = m.get("event")
        if type(event) is not str or not event:
            return "track needs event"
    return None


def _is_id(value: Any) -> bool:
    return type(value) is str and bool(value)


def _rejected_email(m: dict[str, Any], reject: set[str]) -> str | None:
    """The first email of message ``m`` on the reject list (lower-cased), or None."""
    candidates: list[Any] = [m.get("email")]
    for key in ("traits", "properties"):
        section = m.get(key)
        if isinstance(section, dict):
            candidates.append(section.get("email"))
    context = m.get("context")
    if isinstance(context, dict):
        traits = context.get("traits")
        if isinstance(traits, dict):
            candidates.append(traits.get("email"))
    for candidate in candidates:
        if isinstance(candidate, str):
            lowered = candidate.strip().lower()
            if lowered in reject:
                return lowered
    return None
