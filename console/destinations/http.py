"""The engine's HTTP client: every request has a whole-request deadline and a capped reply.

httpx's timeouts are per operation: a receiver that drips one byte every few seconds never trips
a read timeout, so a run would hang for ever holding its lease. And httpx reads (and inflates) a
whole reply into memory: a 100 MB body or a gzip bomb would take the process with it. Both are
bounded here, below the adapters, so no adapter (nor Test connection) can forget it.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

import httpx

REPLY_CAP = 64 * 1024
"""Bytes of a reply read at most, after decompression. Every documented reply is a few
hundred bytes; an error page is cut to its first lines anyway."""

# Only encodings the cap can be applied to while inflating are asked for (no br/zstd).
_ENCODINGS = "gzip, deflate"
_HOP_HEADERS = (b"content-encoding", b"content-length", b"transfer-encoding")


class UnreadableReply(httpx.ReadError):
    """A reply the engine will not read (over the cap, an encoding not asked for, corrupt):
    a TransportError, so every adapter retries it like a broken connection, with these words."""


class ReplyTooLarge(UnreadableReply):
    """The reply is over the cap."""


def reply_too_large_message(cap: int = REPLY_CAP) -> str:
    return f"reply over {cap // 1024} KB"


def _deadline_of(request: httpx.Request, default: float) -> float:
    """The request's own timeout (a long upload sets one) or the engine's, as a whole."""
    timeouts = request.extensions.get("timeout") or {}
    values = [v for v in timeouts.values() if isinstance(v, int | float)]
    return max(values, default=default)


class _Inflater:
    """Decodes gzip/deflate with a bound on the output, whatever the input claims."""

    def __init__(self, encoding: str, request: httpx.Request) -> None:
        self._request = request
        self._encoding = encoding
        wbits = 16 + zlib.MAX_WBITS if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        self._zlib = zlib.decompressobj(wbits) if encoding != "identity" else None
        self._raw_deflate_tried = False

    def feed(self, chunk: bytes, room: int) -> bytes:
        """At most `room + 1` decoded bytes of `chunk` (one more than fits tells "over")."""
        if self._zlib is None:
            return chunk[: room + 1]
        out = b""
        data = chunk
        try:
            while data and len(out) <= room:
                out += self._zlib.decompress(data, room + 1 - len(out))
                data = self._zlib.unconsumed_tail
        except zlib.error as exc:
            if self._encoding == "deflate" and not self._raw_deflate_tried:
                # Some servers send raw deflate without the zlib header (as httpx tolerates).
                self._raw_deflate_tried = True
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                return self.feed(chunk, room)
            raise UnreadableReply(
                f"the reply's {self._encoding} body is corrupt", request=self._request
            ) from exc
        return out


class BoundedTransport(httpx.AsyncBaseTransport):
    """Wraps a transport: the whole request (connect, send, every byte of the reply) within
    its deadline, and at most `cap` decoded bytes of the reply, decoded here."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, deadline: float, cap: int = REPLY_CAP
    ) -> None:
        self._inner = inner
        self._deadline = deadline
        self._cap = cap

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.headers["Accept-Encoding"] = _ENCODINGS
        limit = _deadline_of(request, self._deadline)
        try:
            async with asyncio.timeout(limit):
                response = await self._inner.handle_async_request(request)
                try:
                    body = await self._read(response, request)
                finally:
                    await response.aclose()
        except TimeoutError:
            # Not httpx's per-read timeout: the reply as a whole was late (a drip counts).
            raise httpx.ReadTimeout(
                f"no complete reply within {limit:g} s", request=request
            ) from None
        headers = [(k, v) for k, v in response.headers.raw if k.lower() not in _HOP_HEADERS]
        return httpx.Response(
            response.status_code,
            headers=headers,
            content=body,
            extensions=response.extensions,
            request=request,
        )

    async def _read(self, response: httpx.Response, request: httpx.Request) -> bytes:
        too_large = ReplyTooLarge(reply_too_large_message(self._cap), request=request)
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self._cap:
            raise too_large  # not a byte of it read
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("identity", "gzip", "x-gzip", "deflate"):
            raise UnreadableReply(
                f"the reply's encoding {encoding!r} was not asked for", request=request
            )
        inflater = _Inflater(encoding, request)
        body = bytearray()
        stream: Any = response.stream
        async for chunk in stream:
            body += inflater.feed(chunk, self._cap - len(body))
            if len(body) > self._cap:
                raise too_large  # the rest is never read: the connection is closed
        return bytes(body)

    async def aclose(self) -> None:
        await self._inner.aclose()


def engine_client(timeout: float, max_connections: int = 4) -> httpx.AsyncClient:
    """The client every run and Test connection uses (redirects are not followed: a key or a
    signed body never leaves for another host)."""
    inner = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=max_connections))
    return httpx.AsyncClient(
        timeout=timeout,
        transport=BoundedTransport(inner, timeout),
        follow_redirects=False,
    )
