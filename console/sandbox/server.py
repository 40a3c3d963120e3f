"""A tiny HTTP/1.1 server for the sandboxes, and the base class of a sandbox app.

:class:`SandboxServer` runs one :class:`SandboxApp` on ``127.0.0.1`` in a daemon thread with the
standard library's ``ThreadingHTTPServer``. What a caller may rely on:

* Every reply is HTTP/1.1 with ``Content-Length`` set, so clients keep connections alive.
* ``port=0`` picks a free port; :attr:`SandboxServer.url` tells which one after :meth:`start`.
* :meth:`SandboxServer.stop` returns only when the listening socket is closed and every open
  client connection has been shut down, so a stopped sandbox refuses new requests and no
  request is served by it afterwards.
* Request bodies may be sent with ``Content-Length`` or chunked; bodies above
  ``max_body_bytes`` (default 512 MiB) are answered 413 and the connection is closed.

:class:`SandboxApp` does the parts common to both sandboxes: request counting, fault injection
(see :mod:`console.sandbox.faults`) and the control endpoints under ``/_sandbox/`` (never
authenticated, never counted, never faulted): ``GET /_sandbox/stats``, ``GET /_sandbox/faults``,
``POST /_sandbox/faults`` (JSON object of switches to change) and ``POST /_sandbox/reset``
(optional body ``{"faults": true}`` also clears the faults).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qs, urlsplit

import orjson

from console.sandbox.faults import ZEROS, FaultKind, Faults, gzip_bomb

MAX_BODY_BYTES = 512 * 1024 * 1024
"""Default cap on a request body the server reads into memory."""

CONTROL_PREFIX = "/_sandbox/"


# --------------------------------------------------------------------------------------------
# Request / response values passed between the HTTP layer and the apps
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Request:
    """One HTTP request as an app sees it. Header names are lower-cased."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def header(self, name: str, default: str = "") -> str:
        """Value of header ``name`` (case-insensitive), or ``default``."""
        return self.headers.get(name.lower(), default)


@dataclass(slots=True)
class Response:
    """What the HTTP layer sends back.

    ``reset=True`` means: write the first bytes of a reply, then abort the connection with a
    TCP reset, so the client sees the connection die mid-reply.
    """

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False
    delay_seconds: float = 0.0
    drip_seconds: float = 0.0  # write the reply one byte at a time, this far apart
    filler_bytes: int = 0  # zero bytes streamed after ``body`` (a huge reply, never in memory)


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON reply; ``payload`` is serialised with orjson."""
    return Response(status=status, body=orjson.dumps(payload), headers=dict(headers or {}))


MALFORMED_BODY = b'<html><body>502 Bad Gateway</body></html>\n{"success": tr'
"""Body of a ``malformed`` fault: neither JSON nor complete, yet labelled application/json so a
client that trusts the Content-Type header has to cope with the parse error."""


# --------------------------------------------------------------------------------------------
# Base app: counting, faults, common control endpoints
# --------------------------------------------------------------------------------------------


class SandboxApp:
    """Base of a sandbox: subclasses implement :meth:`route` and may extend the hooks.

    Thread-safety: ``self.lock`` guards every piece of recorded state; the HTTP server calls
    :meth:`handle` from many threads at once.
    """

    name: str = "sandbox"

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults: Faults = faults if faults is not None else Faults()
        self.lock = threading.RLock()
        self.requests: int = 0
        """Counted HTTP requests seen (all API requests, faulted ones included; not control)."""

    # -- hooks for subclasses ---------------------------------------------------------------

    def route(self, request: Request) -> Response:
        """Answer one API request (not a control request, not faulted)."""
        raise NotImplementedError

    def error_payload(self, status: int, message: str) -> dict[str, Any]:
        """JSON body of an error reply in the destination's own shape."""
        return {"message": message}

    def stats(self) -> dict[str, Any]:
        """JSON-ready counters for ``GET /_sandbox/stats``; called under ``self.lock``."""
        return {"requests": self.requests}

    def control(self, request: Request, action: str) -> Response | None:
        """Answer an app-specific control request ``/_sandbox/<action>``; None = not found."""
        return None

    def reset(self, clear_faults: bool = False) -> None:
        """Forget everything recorded and restart request numbering and the fault draws.

        Faults stay configured unless ``clear_faults``. Subclasses extend this (and call super).
        """
        with self.lock:
            self.requests = 0
            if clear_faults:
                self.faults = Faults()
            else:
                self.faults.reseed()

    # -- dispatch ---------------------------------------------------------------------------

    def error(self, status: int, message: str, **extra: Any) -> Response:
        """An error reply in this destination's shape, with ``extra`` fields merged in."""
        payload = self.error_payload(status, message)
        payload.update(extra)
        return json_response(status, payload)

    def handle(self, request: Request) -> Response:
        """Entry point from the HTTP layer: control endpoints, then faults, then :meth:`route`."""
        if request.path.startswith(CONTROL_PREFIX):
            return self._handle_control(request)
        with self.lock:
            self.requests += 1
            decision = self.faults.decide(self.requests)
            retry_after = self.faults.retry_after_header
        kind = decision.kind
        if kind is FaultKind.REFUSED:
            response = self.error(401, "sandbox fault: the key was revoked")
        elif kind is FaultKind.REDIRECT:
            response = Response(status=302, headers={"Location": "http://elsewhere.invalid/"})
        elif kind is FaultKind.EMPTY:
            response = Response(status=200, content_type="text/plain")
        elif kind is FaultKind.RATE_LIMIT:
            response = self.error(429, "sandbox fault: rate limit exceeded")
            response.headers["Retry-After"] = retry_after
        elif kind is FaultKind.ERROR:
            text = "service unavailable" if decision.status == 503 else "internal server error"
            response = self.error(decision.status, f"sandbox fault: {text}")
        else:
            response = self._route_safely(request)
            if kind is FaultKind.MALFORMED:
                response = Response(status=200, body=MALFORMED_BODY)
            elif kind is FaultKind.RESET:
                response = Response(status=200, reset=True)
            elif kind is FaultKind.HUGE:
                response = Response(status=200, filler_bytes=self.faults.huge_reply_bytes)
            elif kind is FaultKind.BOMB:
                response = Response(
                    status=200,
                    body=gzip_bomb(self.faults.huge_reply_bytes),
                    headers={"Content-Encoding": "gzip"},
                )
        response.delay_seconds = decision.delay_seconds
        response.drip_seconds = decision.drip_seconds
        return response

    def _route_safely(self, request: Request) -> Response:
        try:
            return self.route(request)
        except Exception as exc:  # a sandbox bug must show up as a 500, not a dead connection
            traceback.print_exc(file=sys.stderr)
            return self.error(500, f"sandbox bug: {type(exc).__name__}: {exc}")

    def _handle_control(self, request: Request) -> Response:
        action = request.path[len(CONTROL_PREFIX) :].strip("/")
        try:
            if action == "stats" and request.method == "GET":
                with self.lock:
                    return json_response(200, self.stats())
            if action == "faults" and request.method == "GET":
                with self.lock:
                    return json_response(200, self.faults.to_dict())
            if action == "faults" and request.method == "POST":
                data = parse_json_object(request.body)
                with self.lock:
                    self.faults.update(data)
                    return json_response(200, self.faults.to_dict())
            if action == "reset" and request.method == "POST":
                data = parse_json_object(request.body) if request.body.strip() else {}
                self.reset(clear_faults=bool(data.get("faults", False)))
                return json_response(200, {"reset": True})
            response = self.control(request, action)
        except ValueError as exc:
            return json_response(400, {"message": str(exc)})
        if response is None:
            return json_response(404, {"message": f"no control endpoint {request.method} {action}"})
        return response


def parse_json_object(body: bytes) -> dict[str, Any]:
    """Parse ``body`` as a JSON object; raise ``ValueError`` with a 400-ready message otherwise."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


# --------------------------------------------------------------------------------------------
# HTTP layer
# --------------------------------------------------------------------------------------------


class _BodyTooLarge(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without TCP_NODELAY, Nagle plus the client's
    # delayed ACK adds ~40 ms to every keep-alive request.
    disable_nagle_algorithm = True
    # Idle keep-alive connections are dropped after this many seconds of silence.
    timeout = 60
    server: _HTTPServer

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        # The benchmark makes thousands of requests; per-request stderr lines would dominate.
        if self.server.verbose:
            super().log_message(format, *args)

    def _read_body(self) -> bytes:
        limit = self.server.max_body_bytes
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Trailer section ends with an empty line.
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > limit:
                    raise _BodyTooLarge
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)  # CRLF after the chunk
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > limit:
            raise _BodyTooLarge
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except _BodyTooLarge:
            self.close_connection = True
            self._send(json_response(413, {"message": "request body too large for the sandbox"}))
            return
        except ValueError:
            self.close_connection = True
            self._send(json_response(400, {"message": "malformed request framing"}))
            return
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        try:
            response = self.server.app.handle(request)
        except Exception as exc:  # a sandbox bug must reach the client as a 500, not a hang-up
            traceback.print_exc(file=sys.stderr)
            response = json_response(500, {"message": f"sandbox bug: {exc!r}"})
        if response.delay_seconds > 0:
            time.sleep(response.delay_seconds)
        if response.reset:
            self._reset_connection()
            return
        self._send(response)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body) + response.filler_bytes))
        for name, value in response.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        if response.drip_seconds > 0:
            self.wfile.flush()
            for i in range(len(response.body)):
                time.sleep(response.drip_seconds)
                self.wfile.write(response.body[i : i + 1])
                self.wfile.flush()
            return
        if response.body:
            self.wfile.write(response.body)
        left = response.filler_bytes
        while left > 0:
            piece = min(left, len(ZEROS))
            self.wfile.write(ZEROS[:piece])
            left -= piece

    def _reset_connection(self) -> None:
        # Promise a body, send part of the headers, then abort with RST (SO_LINGER 0): the
        # client sees the connection die in the middle of the reply.
        self.close_connection = True
        sock = self.connection
        with contextlib.suppress(OSError):
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Len")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], app: SandboxApp, max_body_bytes: int, verbose: bool
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.verbose = verbose
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away (killed, timed out) is what the fault tests do on purpose:
        # not worth a traceback on stderr. Anything else is still reported.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Track open client sockets so stop() can shut down keep-alive connections, which
        # would otherwise keep being served by their handler threads after the server stops.
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_all_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
            self._connections.clear()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


App = TypeVar("App", bound=SandboxApp, covariant=True)  # a server only hands its app out


class SandboxServer(Generic[App]):
    """Runs one handler app on 127.0.0.1:port in a daemon thread.

    Use as a context manager (``with SandboxServer(app) as server: ...``) or call
    :meth:`start` / :meth:`stop`. ``port=0`` picks a free port. The host must be a loopback
    address: the sandbox accepts any key and must never be reachable from the network.
    """

    def __init__(
        self,
        app: App,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
        verbose: bool = False,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the sandbox binds loopback only, not {host!r}")
        self.app = app
        self.host = "127.0.0.1" if host == "localhost" else host
        self.port = port
        self.max_body_bytes = max_body_bytes
        self.verbose = verbose
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (the real port once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._httpd is not None

    def start(self) -> SandboxServer[App]:
        """Bind and start serving in a daemon thread; returns self. Idempotent."""
        if self._httpd is not None:
            return self
        server_class: type[_HTTPServer] = _HTTPServer
        if ":" in self.host:

            class _V6(_HTTPServer):
                address_family = socket.AF_INET6

            server_class = _V6
        httpd = server_class((self.host, self.port), self.app, self.max_body_bytes, self.verbose)
        self.port = int(httpd.server_address[1])
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"{self.app.name}-sandbox:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the listener and every open connection. Idempotent."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        httpd.close_all_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SandboxServer[App]:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
