"""A local receiver of the console's alerts posted over HTTP (Slack-compatible JSON), for
tests.

* ``POST`` any path with a JSON object holding a string ``text`` -> 200 ``ok`` (as Slack's
  incoming hooks answer), recorded in ``received``.
* Anything else -> 400 ``{"message"}``; another method -> 405. Faults
  (:mod:`console.sandbox.faults`) apply, so a failing alert channel can be played.

Control endpoints: those of :class:`~console.sandbox.server.SandboxApp` plus
``GET /_sandbox/alerts`` (every recorded body, in arrival order).
"""

from __future__ import annotations

from typing import Any

import orjson

from console.sandbox.faults import Faults
from console.sandbox.server import Request, Response, SandboxApp, json_response


class AlertSandbox(SandboxApp):
    """Receiver of alerts posted over HTTP. See the module docstring for the exact behaviour."""

    name = "alerts"

    def __init__(self, faults: Faults | None = None) -> None:
        super().__init__(faults)
        self.received: list[dict[str, Any]] = []

    def reset(self, clear_faults: bool = False) -> None:
        with self.lock:
            super().reset(clear_faults)
            self.received = []

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), "alerts": len(self.received)}

    def control(self, request: Request, action: str) -> Response | None:
        if action == "alerts" and request.method == "GET":
            with self.lock:
                return json_response(200, list(self.received))
        return None

    def route(self, request: Request) -> Response:
        if request.method != "POST":
            return self.error(405, "POST an alert")
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            return self.error(400, "the body is not JSON")
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            return self.error(400, 'an alert is a JSON object with a "text" string')
        with self.lock:
            self.received.append(body)
        return Response(status=200, body=b"ok", content_type="text/plain")
