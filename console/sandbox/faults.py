"""Fault injection shared by the Segment and ReSci sandboxes.

A :class:`Faults` value says how a sandbox misbehaves. The sandbox asks it once per counted
request (control endpoints under ``/_sandbox/`` are never counted nor faulted) with
:meth:`Faults.decide`, passing the 1-based request number. What a caller may rely on:

* Decisions are deterministic: the same seed and the same sequence of requests give the same
  faults, because the error draw comes from ``random.Random(seed)`` and every other switch is
  "every Nth request" arithmetic on the request number.
* When several switches hit the same request, the precedence is: refused key, redirect,
  connection reset, then 429, then 5xx, then malformed, empty, huge and gzip-bomb bodies.
  ``delay_seconds`` and ``drip_seconds`` apply on top of any of them.
* ``reset`` and ``malformed`` happen *after* the request was processed (state recorded), which is
  how a reply gets lost in real life; 429 and 5xx are answered *without* processing anything.

``Faults`` itself is not locked: the owning sandbox calls :meth:`decide` and :meth:`update`
under its own lock.
"""

from __future__ import annotations

import enum
import functools
import math
import random
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ZEROS = bytes(64 * 1024)


@functools.lru_cache(maxsize=4)
def gzip_bomb(inflated: int) -> bytes:
    """A gzip body of ``inflated`` zero bytes: about a thousandth of that on the wire."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [packer.compress(ZEROS) for _ in range(inflated // len(ZEROS))]
    parts.append(packer.compress(bytes(inflated % len(ZEROS))))
    parts.append(packer.flush())
    return b"".join(parts)


class FaultKind(enum.Enum):
    """What a sandbox does with one request."""

    NONE = "none"
    RESET = "reset"  # process, then close the socket mid-reply
    RATE_LIMIT = "rate_limit"  # 429 with Retry-After, nothing processed
    ERROR = "error"  # 500 or 503, nothing processed
    MALFORMED = "malformed"  # process, then answer 200 with a body that is not JSON
    EMPTY = "empty"  # nothing processed, answer 200 with an empty body (a proxy's "OK")
    REDIRECT = "redirect"  # nothing processed, 302 to another host
    REFUSED = "refused"  # nothing processed, 401: the key was revoked part-way through a run
    HUGE = "huge"  # process, then answer 200 with `huge_reply_bytes` of padding
    BOMB = "bomb"  # process, then answer 200 gzip-encoded, inflating to `huge_reply_bytes`


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """The fault chosen for one request; ``status`` is the HTTP status for 429/5xx, else 0."""

    kind: FaultKind
    status: int = 0
    delay_seconds: float = 0.0
    drip_seconds: float = 0.0


def format_retry_after(seconds: float) -> str:
    """Render a Retry-After value: integer seconds when whole ("1"), else a decimal ("0.25").

    RFC 9110 only allows integers; fractional values exist so tests can run fast, and the
    console's client is expected to accept both.
    """
    if float(seconds).is_integer():
        return str(int(seconds))
    return repr(float(seconds))


def _normalise_emails(emails: Iterable[str]) -> set[str]:
    return {e.strip().lower() for e in emails}


@dataclass
class Faults:
    """Fault switches of a sandbox. All default to "behave perfectly"."""

    error_rate: float = 0.0
    """Share of requests answered 500 or 503 (drawn from ``random.Random(seed)``)."""
    rate_limit_every: int = 0
    """Every Nth request is answered 429 with a ``Retry-After`` header (0 = never)."""
    retry_after_seconds: float = 1
    """Value of the ``Retry-After`` header on 429 replies."""
    delay_seconds: float = 0.0
    """Sleep this long before replying to every counted request."""
    reset_every: int = 0
    """Every Nth request: processed, then the connection is reset without a full reply."""
    malformed_every: int = 0
    """Every Nth request: processed, then answered 200 with a body that is not JSON."""
    drip_seconds: float = 0.0
    """Send every counted reply one byte every this many seconds (0 = all at once)."""
    empty_every: int = 0
    """Every Nth request: nothing processed, answered 200 with an empty body."""
    redirect_every: int = 0
    """Every Nth request: nothing processed, answered 302 to another host."""
    refuse_after: int = 0
    """Requests after the first N are answered 401, as when a key is revoked (0 = never)."""
    huge_every: int = 0
    """Every Nth request: processed, then answered 200 with ``huge_reply_bytes`` of padding."""
    bomb_every: int = 0
    """Every Nth request: processed, then answered 200 with a gzip body that inflates to
    ``huge_reply_bytes`` (a decompression bomb)."""
    huge_reply_bytes: int = 100 * 1024 * 1024
    """Size of a ``huge`` reply, or the inflated size of a ``bomb`` reply."""
    reject_emails: set[str] = field(default_factory=set)
    """Lower-cased emails the sandbox refuses (per batch for Segment, per row for ReSci)."""
    seed: int = 0
    """Seed of the error-rate draws; setting it (or :meth:`reseed`) restarts the sequence."""
    _rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Normalise once here so the hot path compares lower-cased strings only.
        self.reject_emails = _normalise_emails(self.reject_emails)
        self._rng = random.Random(self.seed)

    # -- decisions -------------------------------------------------------------------------

    def reseed(self) -> None:
        """Restart the error draws from ``seed`` (a sandbox reset does this)."""
        self._rng = random.Random(self.seed)

    def decide(self, request_number: int) -> FaultDecision:
        """Choose the fault for the request numbered ``request_number`` (1-based)."""
        # Draw on every request, even when another switch wins, so that the error sequence
        # depends only on the seed and the number of requests, not on the other switches.
        draw = self._rng.random()
        status_draw = self._rng.random()
        delay, drip = self.delay_seconds, self.drip_seconds
        if self.refuse_after and request_number > self.refuse_after:
            return FaultDecision(FaultKind.REFUSED, 401, delay, drip)
        if self.redirect_every and request_number % self.redirect_every == 0:
            return FaultDecision(FaultKind.REDIRECT, 302, delay, drip)
        if self.reset_every and request_number % self.reset_every == 0:
            return FaultDecision(FaultKind.RESET, 0, delay, drip)
        if self.rate_limit_every and request_number % self.rate_limit_every == 0:
            return FaultDecision(FaultKind.RATE_LIMIT, 429, delay, drip)
        if draw < self.error_rate:
            return FaultDecision(FaultKind.ERROR, 503 if status_draw < 0.5 else 500, delay, drip)
        if self.malformed_every and request_number % self.malformed_every == 0:
            return FaultDecision(FaultKind.MALFORMED, 200, delay, drip)
        for kind, every in (
            (FaultKind.EMPTY, self.empty_every),
            (FaultKind.HUGE, self.huge_every),
            (FaultKind.BOMB, self.bomb_every),
        ):
            if every and request_number % every == 0:
                return FaultDecision(kind, 200, delay, drip)
        return FaultDecision(FaultKind.NONE, 0, delay, drip)

    def is_rejected(self, email: object) -> bool:
        """True when ``email`` (any case) is on the reject list; non-strings are never rejected."""
        return (
            bool(self.reject_emails)
            and isinstance(email, str)
            and email.strip().lower() in self.reject_emails
        )

    @property
    def retry_after_header(self) -> str:
        """The ``Retry-After`` header value for 429 replies."""
        return format_retry_after(self.retry_after_seconds)

    # -- (de)serialisation for the control endpoint ----------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view of the switches (reject_emails sorted)."""
        return {
            "error_rate": self.error_rate,
            "rate_limit_every": self.rate_limit_every,
            "retry_after_seconds": self.retry_after_seconds,
            "delay_seconds": self.delay_seconds,
            "reset_every": self.reset_every,
            "malformed_every": self.malformed_every,
            "drip_seconds": self.drip_seconds,
            "empty_every": self.empty_every,
            "redirect_every": self.redirect_every,
            "refuse_after": self.refuse_after,
            "huge_every": self.huge_every,
            "bomb_every": self.bomb_every,
            "huge_reply_bytes": self.huge_reply_bytes,
            "reject_emails": sorted(self.reject_emails),
            "seed": self.seed,
        }

    def update(self, data: Mapping[str, Any]) -> None:
        """Apply the keys of ``data`` (as posted to ``/_sandbox/faults``).

        All keys are validated before any is applied, so a bad request changes nothing.
        Unknown keys, wrong types and out-of-range values raise ``ValueError`` with a message
        fit for a 400 reply. Setting ``seed`` restarts the error draws.
        """
        if not isinstance(data, Mapping):
            raise ValueError("faults must be a JSON object")
        changes: dict[str, Any] = {}
        for key, value in data.items():
            if key == "error_rate":
                changes[key] = _number(key, value, 0.0, 1.0)
            elif key in ("retry_after_seconds", "delay_seconds", "drip_seconds"):
                changes[key] = _number(key, value, 0.0, 3600.0)
            elif key in _COUNTS:
                changes[key] = _integer(key, value, 0)
            elif key == "seed":
                changes[key] = _integer(key, value, None)
            elif key == "reject_emails":
                if isinstance(value, str) or not isinstance(value, Iterable):
                    raise ValueError("reject_emails must be a list of strings")
                items = list(value)
                if not all(isinstance(e, str) for e in items):
                    raise ValueError("reject_emails must be a list of strings")
                changes[key] = _normalise_emails(items)
            else:
                raise ValueError(f"unknown fault switch: {key!r}")
        for key, value in changes.items():
            setattr(self, key, value)
        if "seed" in changes:
            self.reseed()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Faults:
        """Build a ``Faults`` from a JSON object, validated like :meth:`update`."""
        faults = cls()
        faults.update(data)
        return faults


_COUNTS = (
    "rate_limit_every",
    "reset_every",
    "malformed_every",
    "empty_every",
    "redirect_every",
    "refuse_after",
    "huge_every",
    "bomb_every",
    "huge_reply_bytes",
)


def _number(key: str, value: Any, low: float, high: float) -> float:
    # bool is an int subclass; "true" as a rate is a caller bug worth a 400.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number")
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise ValueError(f"{key} must be between {low:g} and {high:g}")
    return number


def _integer(key: str, value: Any, low: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be an integer")
    if low is not None and value < low:
        raise ValueError(f"{key} must be >= {low}")
    return value
